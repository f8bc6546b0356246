import { Ajv, type ValidateFunction } from 'ajv';
import {
  type Envelope,
  nativeProtocolSchema,
  type RequestData,
  type RequestType,
  requestDefName,
  requestTypes,
} from './schema.js';
import { describeFailure, type ValidationFailure } from './validation-reasons.js';

export type Validated =
  | {
      ok: true;
      message: { [K in RequestType]: { type: K; id?: string | number; data: RequestData[K] } }[RequestType];
    }
  | { ok: false; id?: string | number; failure: ValidationFailure };

/** Compiles the protocol schema once and checks client frames against it (envelope, then payload). */
export class NativeValidator {
  private readonly envelope: ValidateFunction;
  private readonly payloads = new Map<string, ValidateFunction>();

  constructor() {
    const ajv = new Ajv({ allErrors: false, verbose: true, strict: true, strictTypes: false });
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
      return { ok: false, id, failure: describeFailure(this.envelope.errors!) };
    }
    const envelope = frame as Envelope;
    const data = envelope.data ?? {};
    const payload = this.payloads.get(envelope.type)!;
    if (!payload(data)) {
      const failure = describeFailure(payload.errors!);
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
