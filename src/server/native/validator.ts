import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import {
  type Envelope,
  nativeProtocolSchema,
  type RequestData,
  type RequestType,
  requestDefName,
  requestTypes,
} from './schema.js';

/** A frame that failed validation: where (JSON pointer into the frame) and why. */
export interface ValidationFailure {
  pointer: string;
  reason: string;
}

export type Validated =
  | {
      ok: true;
      message: { [K in RequestType]: { type: K; id?: string | number; data: RequestData[K] } }[RequestType];
    }
  | { ok: false; id?: string | number; failure: ValidationFailure };

function describe(error: ErrorObject): ValidationFailure {
  let pointer = error.instancePath;
  let reason = error.message ?? 'is invalid';
  const params = error.params as Record<string, unknown>;
  if (error.keyword === 'additionalProperties') {
    pointer += `/${String(params.additionalProperty).replace(/~/g, '~0').replace(/\//g, '~1')}`;
    reason = 'is not allowed here';
  } else if (error.keyword === 'required') {
    pointer += `/${String(params.missingProperty)}`;
    reason = 'is required';
  } else if (error.keyword === 'enum') {
    reason = `must be one of ${JSON.stringify(params.allowedValues)}`;
  }
  return { pointer, reason };
}

/** Compiles the protocol schema once and checks client frames against it (envelope, then payload). */
export class NativeValidator {
  private readonly envelope: ValidateFunction;
  private readonly payloads = new Map<string, ValidateFunction>();

  constructor() {
    const ajv = new Ajv({ allErrors: false, strict: true, strictTypes: false });
    ajv.addKeyword({
      keyword: 'bytes',
      schemaType: 'boolean',
      errors: false,
      validate: (expected: boolean, data: unknown) => !expected || data instanceof Uint8Array,
    });
    ajv.addSchema(nativeProtocolSchema);
    const ref = (name: string) => {
      const fn = ajv.getSchema(`${nativeProtocolSchema.$id}#/$defs/${name}`);
      if (!fn) throw new Error(`native schema lacks $defs/${name}`);
      return fn;
    };
    this.envelope = ref('envelope');
    for (const type of requestTypes) this.payloads.set(type, ref(requestDefName(type)));
  }

  validate(frame: unknown): Validated {
    if (!this.envelope(frame)) {
      const id = readableId(frame);
      return { ok: false, id, failure: describe(this.envelope.errors![0]) };
    }
    const envelope = frame as Envelope;
    const data = envelope.data ?? {};
    const payload = this.payloads.get(envelope.type)!;
    if (!payload(data)) {
      const failure = describe(payload.errors![0]);
      if (payload.errors![0].keyword === 'bytes') failure.reason = 'must be bytes';
      return { ok: false, id: envelope.id, failure: { ...failure, pointer: `/data${failure.pointer}` } };
    }
    return { ok: true, message: { type: envelope.type, id: envelope.id, data } as never };
  }
}

/** The `id` of a frame that failed validation, when it is itself a valid id (so the error reply can carry it). */
function readableId(frame: unknown): string | number | undefined {
  if (typeof frame !== 'object' || frame === null || Array.isArray(frame)) return undefined;
  const id = (frame as { id?: unknown }).id;
  if (typeof id === 'string' && id.length > 0 && id.length <= 128) return id;
  if (typeof id === 'number' && Number.isSafeInteger(id) && id >= 0) return id;
  return undefined;
}
