import { Packr } from 'msgpackr';

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

const BYTES_KEY = '$bytes';

/** Thrown for frames that are not well-formed JSON/msgpack. */
export class FrameDecodeError extends Error {}

/** Decodes one inbound frame: text frames are JSON, binary frames msgpack (whatever the negotiated encoding). */
export function decodeFrame(raw: Buffer, isBinary: boolean): unknown {
  if (isBinary) {
    try {
      return packr.unpack(raw);
    } catch (error) {
      throw new FrameDecodeError(`not valid msgpack: ${(error as Error).message}`);
    }
  }
  let value: unknown;
  try {
    value = JSON.parse(raw.toString('utf8'));
  } catch (error) {
    throw new FrameDecodeError(`not valid JSON: ${(error as Error).message}`);
  }
  return reviveBytes(value);
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
