/** Validation of concept metadata against its JSON Schema (compiled once) plus the rules a schema cannot state. */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { canonicalKvOrder, scopeKeysProblem } from './layers.js';
import { type ConceptMetadata, conceptMetadataSchema } from './metadata-schema.js';

const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

let validator: ValidateFunction<ConceptMetadata> | undefined;

function compiled(): ValidateFunction<ConceptMetadata> {
  if (!validator) {
    const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
    addFormats(ajv);
    validator = ajv.compile<ConceptMetadata>(conceptMetadataSchema);
  }
  return validator;
}

function describe(errors: ErrorObject[] | null | undefined): string {
  const lines = (errors ?? []).slice(0, 5).map((e) => {
    const where = e.instancePath || '(root)';
    const extra =
      e.keyword === 'additionalProperties'
        ? ` '${(e.params as { additionalProperty: string }).additionalProperty}'`
        : e.keyword === 'enum' || e.keyword === 'const'
          ? ` ${JSON.stringify((e.params as { allowedValues?: unknown; allowedValue?: unknown }).allowedValues ?? (e.params as { allowedValue?: unknown }).allowedValue)}`
          : '';
    return `${where} ${e.message}${extra}`;
  });
  const more = (errors?.length ?? 0) > 5 ? `; and ${(errors?.length ?? 0) - 5} more` : '';
  return lines.join('; ') + more;
}

/** Returns null when `value` is valid concept metadata, else a readable list of problems. */
export function conceptMetadataProblems(value: unknown): string | null {
  const validate = compiled();
  if (!validate(value)) return describe(validate.errors);
  const m = value as ConceptMetadata;
  const problems: string[] = [];
  if (m.origin.kind === 'extracted') {
    const hp = m.origin.hyper_parameters;
    if (hp.selection === 'threshold' && typeof hp.threshold !== 'number') {
      problems.push('/origin/hyper_parameters selection "threshold" needs a numeric threshold');
    }
    if (hp.selection === 'top_fraction' && typeof hp.top_fraction !== 'number') {
      problems.push('/origin/hyper_parameters selection "top_fraction" needs a numeric top_fraction');
    }
  }
  const layersProblem = scopeKeysProblem(canonicalKvOrder(Object.keys(m.layers)), m.scope);
  if (layersProblem) problems.push(`/layers: ${layersProblem}`);
  let count = 0;
  let params = 0;
  for (const [key, layer] of Object.entries(m.layers)) {
    const n = layer.shape[0] * layer.shape[1];
    if (layer.count > n) problems.push(`/layers/${key} count ${layer.count} exceeds its ${n} elements`);
    count += layer.count;
    params += n;
  }
  if (count !== m.total_count)
    problems.push(`total_count ${m.total_count} differs from the layer sum ${count}`);
  if (params !== m.total_parameters_in_scope) {
    problems.push(
      `total_parameters_in_scope ${m.total_parameters_in_scope} differs from the layer sum ${params}`,
    );
  }
  return problems.length ? problems.join('; ') : null;
}
