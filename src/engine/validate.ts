import { comboOptions, type NodeRegistry } from '../nodes/registry.js';
import type { ComboInput, InputSpec, NodeDefinition, NodeEnvironment } from '../nodes/types.js';
import { keyedRecord, ownValue } from './keyed-record.js';
import { loggedError, publicError } from './public-error.js';
import type { ApiPrompt, ComfyError, NodeErrors } from './service-types.js';

/**
 * ComfyUI's prompt validation (execution.py `validate_prompt` / `validate_inputs`): the same error
 * types, messages and shapes, the same coercion of widget values, `{"__value__": …}` unwrapping, and
 * the same rule that a prompt runs when at least one of its output nodes validates.
 */

export type ValidationResult =
  | {
      ok: true;
      prompt: ApiPrompt;
      outputs: string[];
      nodeErrors: NodeErrors;
      /** Invalid nodes that feed only dispensable inputs: left out of the run (see `Job.skipped`). */
      skipped: string[];
    }
  | { ok: false; error: ComfyError; nodeErrors: NodeErrors };

const WIDGET_TYPES = new Set(['INT', 'FLOAT', 'STRING', 'BOOLEAN', 'COMBO']);

export function isLinkValue(value: unknown): value is unknown[] {
  return Array.isArray(value);
}

function err(
  type: string,
  message: string,
  details: string,
  extra_info: Record<string, unknown> = {},
): ComfyError {
  return { type, message, details, extra_info };
}

/** Python's str() of a number as the validation messages print it (floats keep a `.0`). */
function pyNumber(value: number, isFloat: boolean): string {
  if (Number.isNaN(value)) return 'nan';
  if (!Number.isFinite(value)) return value > 0 ? 'inf' : '-inf';
  if (isFloat && Number.isInteger(value)) return `${value}.0`;
  return String(value);
}

function pyRepr(value: unknown): string {
  if (value === null || value === undefined) return 'None';
  if (typeof value === 'string') return `'${value}'`;
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

function pyTypeName(value: unknown): string {
  if (value === null || value === undefined) return 'NoneType';
  if (Array.isArray(value)) return 'list';
  if (typeof value === 'object') return 'dict';
  return typeof value;
}

/** Widget value coercion as ComfyUI does it with int()/float()/str()/bool(); throws Python's messages. */
export function coerceWidget(type: string, value: unknown): unknown {
  switch (type) {
    case 'INT': {
      if (typeof value === 'boolean') return value ? 1 : 0;
      if (typeof value === 'number') {
        if (Number.isNaN(value)) throw new Error('cannot convert float NaN to integer');
        if (!Number.isFinite(value)) throw new Error('cannot convert float infinity to integer');
        return Math.trunc(value);
      }
      if (typeof value === 'string') {
        const s = value.trim().replaceAll('_', '');
        if (/^[+-]?\d+$/.test(s)) return Number.parseInt(s, 10);
        throw new Error(`invalid literal for int() with base 10: ${pyRepr(value)}`);
      }
      throw new Error(
        `int() argument must be a string, a bytes-like object or a real number, not '${pyTypeName(value)}'`,
      );
    }
    case 'FLOAT': {
      if (typeof value === 'boolean') return value ? 1 : 0;
      if (typeof value === 'number') return value;
      if (typeof value === 'string') {
        const s = value.trim().toLowerCase();
        if (/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/.test(s)) return Number(s);
        if (/^[+-]?(inf|infinity)$/.test(s)) return s.startsWith('-') ? -Infinity : Infinity;
        if (/^[+-]?nan$/.test(s)) return Number.NaN;
        throw new Error(`could not convert string to float: ${pyRepr(value)}`);
      }
      throw new Error(`float() argument must be a string or a real number, not '${pyTypeName(value)}'`);
    }
    case 'STRING':
      if (typeof value === 'string') return value;
      if (value === null || value === undefined) return 'None';
      if (typeof value === 'boolean') return value ? 'True' : 'False';
      return typeof value === 'object' ? JSON.stringify(value) : String(value);
    case 'BOOLEAN':
      // ComfyUI uses Python's bool(), where "false" is True; the words are read as meant instead.
      if (typeof value === 'string' && /^(true|false)$/i.test(value.trim()))
        return value.trim().toLowerCase() === 'true';
      if (Array.isArray(value)) return value.length > 0;
      if (value && typeof value === 'object') return Object.keys(value).length > 0;
      return Boolean(value);
    default:
      return value;
  }
}

/** Does an output of type `received` fit an input of type `wanted`? (`*`, comma unions, COMBO). */
export function typesCompatible(received: string, wanted: string): boolean {
  if (received === '*' || wanted === '*') return true;
  if (received === wanted) return true;
  const a = new Set(received.split(',').map((s) => s.trim()));
  return wanted.split(',').some((s) => a.has(s.trim()));
}

/** The input config as ComfyUI reports it in `extra_info.input_config`: `[type, options]`. */
function inputConfig(spec: InputSpec, env: NodeEnvironment): unknown[] {
  const { type, ...rest } = spec as InputSpec & Record<string, unknown>;
  if (type === 'COMBO') {
    const { options: _o, ...others } = rest;
    return [comboOptions(spec as ComboInput, env), others];
  }
  return [type, rest];
}

interface NodeVerdict {
  valid: boolean;
  errors: ComfyError[];
}

type Sections = Array<['required' | 'optional', Record<string, InputSpec>]>;

function sectionsOf(def: NodeDefinition): Sections {
  return [
    ['required', def.inputs.required],
    ['optional', def.inputs.optional ?? {}],
  ];
}

/** Why a link value cannot be followed, or null when it names an existing, type-compatible output. */
type LinkProblem = { kind: 'bad'; why: string } | { kind: 'mismatch'; received: string } | null;

class PromptValidator {
  readonly validated = new Map<string, NodeVerdict>();
  /** Links that close a cycle, per node and input name: the cycle's nodes in walk order. */
  private readonly cycles = new Map<string, Map<string, string[]>>();

  constructor(
    readonly prompt: ApiPrompt,
    private readonly registry: NodeRegistry,
    private readonly env: NodeEnvironment,
    private readonly log: (message: string) => void,
    private readonly extraPngInfo: Record<string, unknown>,
  ) {}

  /**
   * Validates `output` and everything it links to, upstream first. The walk is an explicit
   * depth-first search (a chain of thousands of nodes must not exhaust the call stack); it visits
   * inputs in declaration order and records a cycle where a link leads back onto the current path.
   */
  async validateOutput(output: string): Promise<NodeVerdict> {
    for (const id of this.upstreamFirst(output)) this.validated.set(id, await this.validateNode(id));
    return this.validated.get(output) as NodeVerdict;
  }

  private upstreamFirst(root: string): string[] {
    const order: string[] = [];
    if (this.validated.has(root)) return order;
    const onPath = new Set<string>([root]);
    const path: Array<{ id: string; links: Array<[string, string]>; next: number }> = [
      { id: root, links: this.followedLinks(root), next: 0 },
    ];
    const visited = new Set<string>([root]);
    while (path.length > 0) {
      const frame = path[path.length - 1];
      if (frame.next === frame.links.length) {
        path.pop();
        onPath.delete(frame.id);
        order.push(frame.id);
        continue;
      }
      const [name, source] = frame.links[frame.next++];
      if (onPath.has(source)) {
        const ids = path.map((f) => f.id);
        const perInput = this.cycles.get(frame.id) ?? new Map<string, string[]>();
        perInput.set(name, ids.slice(ids.indexOf(source)));
        this.cycles.set(frame.id, perInput);
        continue;
      }
      if (visited.has(source) || this.validated.has(source)) continue;
      visited.add(source);
      onPath.add(source);
      path.push({ id: source, links: this.followedLinks(source), next: 0 });
    }
    return order;
  }

  /** [input name, source id] of the inputs of `id` that hold a followable link, in check order. */
  private followedLinks(id: string): Array<[string, string]> {
    const node = this.prompt[id];
    const def = this.registry.get(node.class_type) as NodeDefinition;
    const links: Array<[string, string]> = [];
    for (const [, specs] of sectionsOf(def)) {
      for (const [name, spec] of Object.entries(specs)) {
        const value = ownValue(node.inputs, name);
        if (isLinkValue(value) && this.linkProblem(value, spec) === null)
          links.push([name, String(value[0])]);
      }
    }
    return links;
  }

  private async validateNode(id: string): Promise<NodeVerdict> {
    try {
      return await this.checkInputs(id);
    } catch (error) {
      const e = publicError(error);
      this.log(`exception while validating node ${id}: ${loggedError(error)}`);
      return {
        valid: false,
        errors: [
          err('exception_during_validation', 'Exception when validating node', e.exception_message, {
            exception_type: e.exception_type,
            traceback: e.traceback,
          }),
        ],
      };
    }
  }

  private async checkInputs(id: string): Promise<NodeVerdict> {
    const node = this.prompt[id];
    const def = this.registry.get(node.class_type) as NodeDefinition;
    const inputs = node.inputs;
    const errors: ComfyError[] = [];
    let valid = true;
    /** Linked inputs whose source did not validate. */
    const failedLinks: string[] = [];
    for (const [category, specs] of sectionsOf(def)) {
      for (const [name, spec] of Object.entries(specs)) {
        if (ownValue(inputs, name) === undefined) {
          if (category === 'required')
            errors.push(
              err('required_input_missing', 'Required input is missing', name, { input_name: name }),
            );
          continue;
        }
        let value: unknown = inputs[name];
        const info = () => inputConfig(spec, this.env);
        if (isLinkValue(value)) {
          const linkError = this.checkLink(name, value, spec, info);
          if (linkError) {
            errors.push(linkError);
            continue;
          }
          const cycle = this.cycles.get(id)?.get(name);
          if (cycle) {
            const source = String(value[0]);
            errors.push(
              err(
                'dependency_cycle',
                'Dependency cycle detected',
                `${name}: ${cycle.join(' -> ')} -> ${source}`,
                {
                  input_name: name,
                  input_config: info(),
                  linked_node: value,
                  cycle_nodes: cycle,
                },
              ),
            );
            continue;
          }
          if (!this.validated.get(String(value[0]))?.valid) failedLinks.push(name);
          continue;
        }
        try {
          if (value && typeof value === 'object' && '__value__' in (value as object)) {
            value = (value as { __value__: unknown }).__value__;
            inputs[name] = value;
          }
          if (spec.type !== 'COMBO' && WIDGET_TYPES.has(spec.type)) {
            value = coerceWidget(spec.type, value);
            inputs[name] = value;
          }
        } catch (error) {
          const message = error instanceof Error ? error.message : String(error);
          errors.push(
            err(
              'invalid_input_type',
              `Failed to convert an input value to a ${spec.type} value`,
              `${name}, ${pyRepr(value)}, ${message}`,
              { input_name: name, input_config: info(), received_value: value, exception_message: message },
            ),
          );
          continue;
        }
        if (!WIDGET_TYPES.has(spec.type) && spec.type !== '*') {
          // ComfyUI passes such literals through and the node fails later; saying so here is clearer.
          errors.push(
            err(
              'invalid_input_type',
              `Failed to convert an input value to a ${spec.type} value`,
              `${name}, ${pyRepr(value)}, a ${spec.type} input takes a link [node_id, output_index], not a literal value`,
              {
                input_name: name,
                input_config: info(),
                received_value: value,
                exception_message: 'link expected',
              },
            ),
          );
          continue;
        }
        const range = spec as { min?: number; max?: number };
        const isFloat = spec.type === 'FLOAT';
        if (typeof value === 'number' && range.min !== undefined && value < range.min) {
          errors.push(
            err(
              'value_smaller_than_min',
              `Value ${pyNumber(value, isFloat)} smaller than min of ${pyNumber(range.min, isFloat)}`,
              name,
              { input_name: name, input_config: info(), received_value: value },
            ),
          );
          continue;
        }
        if (typeof value === 'number' && range.max !== undefined && value > range.max) {
          errors.push(
            err(
              'value_bigger_than_max',
              `Value ${pyNumber(value, isFloat)} bigger than max of ${pyNumber(range.max, isFloat)}`,
              name,
              { input_name: name, input_config: info(), received_value: value },
            ),
          );
          continue;
        }
        if (spec.type === 'COMBO' && !(spec as ComboInput).allowUnlisted) {
          const options = comboOptions(spec as ComboInput, this.env);
          if (!options.includes(value as string)) {
            const big = options.length > 20;
            const listInfo = big
              ? `(list of length ${options.length})`
              : `[${options.map((o) => `'${o}'`).join(', ')}]`;
            errors.push(
              err(
                'value_not_in_list',
                'Value not in list',
                `${name}: '${typeof value === 'string' ? value : pyRepr(value)}' not in ${listInfo}`,
                {
                  input_name: name,
                  input_config: big ? null : info(),
                  received_value: value,
                },
              ),
            );
          }
        }
      }
    }
    if (failedLinks.length > 0) {
      const literals = keyedRecord(Object.entries(inputs).filter(([, v]) => !isLinkValue(v)));
      const dispensable = def.dispensableInputs?.(literals, {
        prompt: this.prompt,
        extraPngInfo: this.extraPngInfo,
        uniqueId: id,
      });
      if (!failedLinks.every((name) => dispensable?.includes(name))) valid = false;
    }
    if (def.validate && errors.length === 0 && valid) {
      const literals = keyedRecord(Object.entries(inputs).filter(([, v]) => !isLinkValue(v)));
      const message = await def.validate(literals, this.env);
      if (message !== null && message !== undefined) {
        errors.push(
          err(
            'custom_validation_failed',
            'Custom validation failed for node',
            `${node.class_type} - ${message}`,
            {
              input_name: Object.keys(literals),
              received_value: literals,
            },
          ),
        );
      }
    }
    return { valid: valid && errors.length === 0, errors };
  }

  private linkProblem(value: unknown[], spec: InputSpec): LinkProblem {
    if (value.length !== 2) return { kind: 'bad', why: '' };
    const [sourceId, slot] = value;
    if (typeof sourceId !== 'string' && typeof sourceId !== 'number') return { kind: 'bad', why: '' };
    const source = ownValue(this.prompt, String(sourceId));
    if (!source) return { kind: 'bad', why: `: node '${sourceId}' does not exist in the prompt` };
    if (typeof slot !== 'number' || !Number.isInteger(slot)) return { kind: 'bad', why: '' };
    const sourceDef = this.registry.get(source.class_type) as NodeDefinition;
    const output = sourceDef.outputs[slot];
    if (!output)
      return { kind: 'bad', why: `: node '${sourceId}' (${source.class_type}) has no output ${slot}` };
    if (!typesCompatible(output.type, spec.type)) return { kind: 'mismatch', received: output.type };
    return null;
  }

  private checkLink(
    name: string,
    value: unknown[],
    spec: InputSpec,
    info: () => unknown[],
  ): ComfyError | null {
    const problem = this.linkProblem(value, spec);
    if (problem === null) return null;
    if (problem.kind === 'mismatch') {
      return err(
        'return_type_mismatch',
        'Return type mismatch between linked nodes',
        `${name}, received_type(${problem.received}) mismatch input_type(${spec.type})`,
        { input_name: name, input_config: info(), received_type: problem.received, linked_node: value },
      );
    }
    return err(
      'bad_linked_input',
      'Bad linked input, must be a length-2 list of [node_id, slot_index]',
      `${name}${problem.why}`,
      {
        input_name: name,
        input_config: info(),
        received_value: value,
      },
    );
  }
}

/** Nodes `outputs` depend on (themselves included), following links that validated as links; not into `skipped`. */
export function ancestorsOf(
  prompt: ApiPrompt,
  outputs: Iterable<string>,
  skipped: ReadonlySet<string> = new Set(),
): Set<string> {
  const seen = new Set<string>();
  const stack = [...outputs];
  while (stack.length > 0) {
    const id = stack.pop() as string;
    const node = ownValue(prompt, id);
    if (seen.has(id) || !node || skipped.has(id)) continue;
    seen.add(id);
    for (const v of Object.values(node.inputs ?? {})) {
      if (isLinkValue(v) && v.length === 2) stack.push(String(v[0]));
    }
  }
  return seen;
}

function cloneForValidation(raw: Record<string, unknown>): ApiPrompt {
  return keyedRecord(
    Object.entries(raw).map(([id, node]) => {
      const n = (node ?? {}) as Record<string, unknown>;
      const copy = {
        ...(n as object),
        class_type: n.class_type as string,
        inputs: structuredClone((n.inputs ?? {}) as Record<string, unknown>),
      } as ApiPrompt[string];
      return [id, copy] as const;
    }),
  );
}

export async function validatePrompt(
  rawPrompt: unknown,
  registry: NodeRegistry,
  env: NodeEnvironment,
  partialExecutionTargets?: string[] | null,
  /** Where exceptions raised while validating are reported in full (clients get the message only). */
  log: (message: string) => void = (message) => console.error(message),
  /** The request's `extra_data.extra_pnginfo` (the EXTRA_PNGINFO hidden value nodes may consult). */
  extraPngInfo: Record<string, unknown> = {},
): Promise<ValidationResult> {
  if (!rawPrompt || typeof rawPrompt !== 'object' || Array.isArray(rawPrompt)) {
    return { ok: false, error: err('no_prompt', 'No prompt provided', 'No prompt provided'), nodeErrors: {} };
  }
  let prompt: ApiPrompt;
  try {
    prompt = cloneForValidation(rawPrompt as Record<string, unknown>);
  } catch (error) {
    // e.g. values nested deeper than the structured clone can follow
    log(`prompt could not be copied for validation: ${loggedError(error)}`);
    const why = publicError(error).exception_message;
    return {
      ok: false,
      error: err(
        'invalid_prompt',
        'Prompt could not be read',
        `The prompt's input values cannot be copied: ${why}`,
      ),
      nodeErrors: {},
    };
  }
  const outputs: string[] = [];
  for (const [id, node] of Object.entries(prompt)) {
    const title = (node._meta as { title?: string } | undefined)?.title;
    if (typeof node.class_type !== 'string' || !node.class_type) {
      return {
        ok: false,
        error: err(
          'missing_node_type',
          `Node '${title ?? `ID #${id}`}' has no class_type. The workflow may be corrupted or a custom node is missing.`,
          `Node ID '#${id}'`,
          { node_id: id, class_type: null, node_title: title ?? null },
        ),
        nodeErrors: {},
      };
    }
    const def = registry.get(node.class_type);
    if (!def) {
      return {
        ok: false,
        error: err(
          'missing_node_type',
          `Node '${title ?? node.class_type}' not found. The custom node may not be installed.`,
          `Node ID '#${id}'`,
          { node_id: id, class_type: node.class_type, node_title: title ?? node.class_type },
        ),
        nodeErrors: {},
      };
    }
    if (!node.inputs || typeof node.inputs !== 'object' || Array.isArray(node.inputs)) node.inputs = {};
    if (def.outputNode && (!partialExecutionTargets || partialExecutionTargets.includes(id)))
      outputs.push(id);
  }
  if (outputs.length === 0) {
    return { ok: false, error: err('prompt_no_outputs', 'Prompt has no outputs', ''), nodeErrors: {} };
  }
  const validator = new PromptValidator(prompt, registry, env, log, extraPngInfo);
  const good: string[] = [];
  const failed: Array<[string, ComfyError[]]> = [];
  const nodeErrors: NodeErrors = keyedRecord();
  for (const o of outputs) {
    const verdict = await validator.validateOutput(o);
    if (verdict.valid) {
      good.push(o);
      continue;
    }
    failed.push([o, verdict.errors]);
    // Only nodes with their own errors are listed; downstream nodes of a bad node are not.
    for (const id of ancestorsOf(prompt, [o])) {
      const v = validator.validated.get(id);
      if (!v || v.valid || v.errors.length === 0) continue;
      nodeErrors[id] ??= { errors: v.errors, dependent_outputs: [], class_type: prompt[id].class_type };
      if (!nodeErrors[id].dependent_outputs.includes(o)) nodeErrors[id].dependent_outputs.push(o);
    }
  }
  if (good.length === 0) {
    let lines = failed.flatMap(([, errors]) => errors.map((e) => `${e.message}: ${e.details}`));
    // ComfyUI lists only the outputs' own errors, which is empty when the fault is upstream.
    if (lines.length === 0)
      lines = Object.values(nodeErrors).flatMap((n) => n.errors.map((e) => `${e.message}: ${e.details}`));
    return {
      ok: false,
      error: err('prompt_outputs_failed_validation', 'Prompt outputs failed validation', lines.join('\n')),
      nodeErrors,
    };
  }
  return { ok: true, prompt, outputs: good, nodeErrors, skipped: skippedNodes(prompt, good, validator) };
}

/** Invalid nodes the good outputs link to (only through dispensable inputs, or they would not be good). */
function skippedNodes(prompt: ApiPrompt, outputs: string[], validator: PromptValidator): string[] {
  const skipped = new Set<string>();
  const seen = new Set<string>();
  const stack = [...outputs];
  while (stack.length > 0) {
    const id = stack.pop() as string;
    if (seen.has(id)) continue;
    seen.add(id);
    for (const v of Object.values(prompt[id].inputs)) {
      if (!isLinkValue(v) || v.length !== 2) continue;
      const source = String(v[0]);
      const verdict = validator.validated.get(source);
      if (verdict && !verdict.valid) skipped.add(source);
      else if (ownValue(prompt, source)) stack.push(source);
    }
  }
  return [...skipped];
}
