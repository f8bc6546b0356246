import { C1, Packr, Unpackr } from 'msgpackr';

/** How a native connection encodes its frames. */
export type Encoding = 'json' | 'msgpack';

export const SUBPROTOCOLS: Record<string, Encoding> = {
  'cones.v1.json': 'json',
  'cones.v1.msgpack': 'msgpack',
};

// Plain msgpack (no msgpackr records/structures) so any msgpack library can read and write our frames.
const packr = new Packr({
  useRecords: false,
  mapsAsObjects: true,
  variableMapSize: true,
  int64AsType: 'number',
});
// Inbound: msgpackr's structured-clone references are off (they can build cyclic frames).
const unpackr = new Unpackr({
  useRecords: false,
  mapsAsObjects: true,
  int64AsType: 'number',
  structuredClone: false,
});

const BYTES_KEY = '$bytes';

/**
 * A frame that is not one well-formed JSON/msgpack value. `reason` is said of the whole frame ("is not
 * valid msgpack: …"); `pointer` locates the offending value when decoding got that far.
 */
export class FrameDecodeError extends Error {
  constructor(
    readonly reason: string,
    readonly pointer = '',
  ) {
    super(`frame ${reason}`);
  }
}

/** Decodes one inbound frame: text frames are JSON, binary frames msgpack (whatever the negotiated encoding). */
export function decodeFrame(raw: Buffer, isBinary: boolean): unknown {
  if (isBinary) {
    if (raw.length === 0) throw new FrameDecodeError('is not valid msgpack: the frame is empty');
    let value: unknown;
    try {
      value = unpackr.unpack(raw);
    } catch (error) {
      throw new FrameDecodeError(msgpackProblem(error));
    }
    rejectExtensionValues(value);
    return value;
  }
  if (raw.length === 0) throw new FrameDecodeError('is not valid JSON: the frame is empty');
  let value: unknown;
  try {
    value = JSON.parse(raw.toString('utf8'));
  } catch (error) {
    throw new FrameDecodeError(`is not valid JSON: ${(error as Error).message}`);
  }
  try {
    return reviveBytes(value);
  } catch (error) {
    if (error instanceof RangeError) throw new FrameDecodeError('is nested too deeply');
    throw error;
  }
}

/** msgpackr's error, said of the frame: "is not valid msgpack: …" or "uses msgpack extension type …". */
function msgpackProblem(error: unknown): string {
  const e = error as Error & { incomplete?: boolean };
  const message = String(e?.message ?? error);
  const invalid = (why: string) => `is not valid msgpack: ${why}`;
  if (e instanceof RangeError && /call stack/i.test(message)) return 'is nested too deeply';
  if (e?.incomplete || message.startsWith('Unexpected end of'))
    return invalid('it is truncated (it ends inside a value)');
  if (message.startsWith('Data read, but end of buffer not reached'))
    return invalid('bytes follow the end of its first value (a frame is exactly one msgpack value)');
  if (message.startsWith('Invalid property type'))
    return invalid('a map key is neither a string nor a number');
  const extension = /^Unknown extension(?: type)? (\d+)/.exec(message);
  if (extension) return `uses msgpack extension type ${extension[1]}, which this protocol does not use`;
  if (message.includes('Structured clone extension is disabled'))
    return "uses msgpackr's structured-clone reference extension, which this protocol does not use";
  return invalid(message);
}

/**
 * msgpackr turns byte 0xc1 (never used) and its extension types (timestamps, sets, typed arrays, …)
 * into JS values; the protocol has none of them, so they are refused here with their location
 * instead of surfacing as a misleading schema error.
 */
function rejectExtensionValues(root: unknown): void {
  const stack: Array<[unknown, string]> = [[root, '']];
  while (stack.length > 0) {
    const [value, pointer] = stack.pop()!;
    if (value === null || ['string', 'number', 'boolean'].includes(typeof value)) continue;
    if (value === C1)
      throw new FrameDecodeError(`is not valid msgpack: byte 0xc1 (never used) at ${at(pointer)}`, pointer);
    if (value instanceof Uint8Array) continue; // bin
    // Children go on the stack last-first, so the first offending value in the frame is reported.
    if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) stack.push([value[i], `${pointer}/${i}`]);
      continue;
    }
    if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
      const entries = Object.entries(value);
      for (let i = entries.length - 1; i >= 0; i--)
        stack.push([entries[i][1], `${pointer}/${escapePointer(entries[i][0])}`]);
      continue;
    }
    throw extensionValue(value, pointer);
  }
}

function extensionValue(value: unknown, pointer: string): FrameDecodeError {
  const kind =
    typeof value === 'object' && value !== null ? value.constructor?.name || 'object' : typeof value;
  return new FrameDecodeError(
    `holds a msgpack extension value (${kind}) at ${at(pointer)}; this protocol uses plain msgpack types only`,
    pointer,
  );
}

function at(pointer: string): string {
  return pointer === '' ? 'the top level' : pointer;
}

/** RFC 6901 escaping of one pointer segment. */
export function escapePointer(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** Encodes an outbound message; bytes become msgpack `bin`, or `{"$bytes": base64}` in JSON. */
export function encodeFrame(value: unknown, encoding: Encoding): Buffer | string {
  if (encoding === 'msgpack') return packr.pack(value);
  return JSON.stringify(value, function (this: Record<string, unknown>, key, replaced) {
    const original = this[key];
    if (original instanceof Uint8Array)
      return {
        [BYTES_KEY]: Buffer.from(original.buffer, original.byteOffset, original.byteLength).toString(
          'base64',
        ),
      };
    return replaced;
  });
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Turns `{"$bytes": base64}` objects of a parsed JSON frame into Uint8Array (left alone when malformed). */
function reviveBytes(value: unknown): unknown {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = reviveBytes(value[i]);
    return value;
  }
  if (typeof value !== 'object' || value === null) return value;
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record);
  if (keys.length === 1 && keys[0] === BYTES_KEY && typeof record[BYTES_KEY] === 'string') {
    const text = record[BYTES_KEY] as string;
    if (text.length % 4 === 0 && BASE64.test(text)) return new Uint8Array(Buffer.from(text, 'base64'));
    return value;
  }
  for (const key of keys) record[key] = reviveBytes(record[key]);
  return value;
}
