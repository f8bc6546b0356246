/**
 * The layout of the extraction cache's own binary entries (ξ checkpoints, prior latents):
 *   [u32 LE header length][JSON header with `version`, padded to 4][float arrays in header order][SHA-256 of all before]
 * The trailing digest makes flipped bytes and truncation detectable, so a damaged entry is discarded
 * instead of silently steering an extraction.
 */
import { createHash } from 'node:crypto';

const DIGEST_BYTES = 32;

/** Why a cache entry cannot be used; the message says what is wrong with it. */
export class CacheEntryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CacheEntryError';
  }
}

function bytesOf(a: Float32Array | Float64Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** The parts of an entry, for atomicWrite; the arrays are not copied. */
export function packChecked(
  version: number,
  header: Record<string, unknown>,
  arrays: (Float32Array | Float64Array)[],
): Uint8Array[] {
  let json = Buffer.from(JSON.stringify({ version, ...header }));
  json = Buffer.concat([json, Buffer.alloc((4 - (json.length % 4)) % 4, 0x20)]);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(json.length);
  const parts = [len, json, ...arrays.map(bytesOf)];
  const hash = createHash('sha256');
  for (const p of parts) hash.update(p);
  return [...parts, hash.digest()];
}

function headerOf(buf: Buffer): Record<string, unknown> | undefined {
  try {
    const n = buf.readUInt32LE(0);
    if (4 + n > buf.length) return undefined;
    const h = JSON.parse(buf.subarray(4, 4 + n).toString('utf8'));
    return h !== null && typeof h === 'object' && !Array.isArray(h) ? h : undefined;
  } catch {
    return undefined;
  }
}

export interface CheckedEntry {
  header: Record<string, unknown>;
  /** The next float32 / float64 array (copied out, so it is aligned); throws past the end. */
  f32(length: number): Float32Array;
  f64(length: number): Float64Array;
  /** Throws unless every array was taken. */
  end(): void;
}

/** Verifies the digest and the format version, then reads the entry. Throws CacheEntryError. */
export function unpackChecked(buf: Buffer, version: number): CheckedEntry {
  const body = buf.subarray(0, Math.max(0, buf.length - DIGEST_BYTES));
  const intact =
    buf.length >= 4 + DIGEST_BYTES &&
    createHash('sha256').update(body).digest().equals(buf.subarray(body.length));
  const header = headerOf(intact ? body : buf);
  const found = header?.version ?? 1;
  // Older formats had no digest, so the version is reported before a (then meaningless) digest mismatch.
  if (header && found !== version)
    throw new CacheEntryError(`written in format version ${found}, this build reads version ${version}`);
  if (!intact)
    throw new CacheEntryError(
      `checksum mismatch (${buf.length} bytes; the file is truncated or its content was modified)`,
    );
  if (!header) throw new CacheEntryError('unreadable header');
  let offset = 4 + body.readUInt32LE(0);
  const take = (byteLength: number): ArrayBuffer => {
    if (!Number.isInteger(byteLength) || byteLength < 0 || offset + byteLength > body.length)
      throw new CacheEntryError('the header lists more data than the file holds');
    const bytes = body.subarray(offset, offset + byteLength);
    offset += byteLength;
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + byteLength) as ArrayBuffer;
  };
  return {
    header,
    f32: (length) => new Float32Array(take(length * 4)),
    f64: (length) => new Float64Array(take(length * 8)),
    end: () => {
      if (offset !== body.length) throw new CacheEntryError('the file holds more data than its header lists');
    },
  };
}
