/** Content checksum of a concept file: SHA-256 over canonical metadata JSON and every tensor. */
import { createHash } from 'node:crypto';
import type { SafetensorsTensor } from './safetensors.js';

/** JSON with object keys sorted at every level, so re-serialized metadata hashes the same. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * `sha256:<hex>` of canonical metadata, then for each tensor in name order its `[name, dtype, shape]`
 * JSON and its bytes (the JSON fixes each byte length, so the concatenation is unambiguous).
 */
export function conceptChecksum(metadata: unknown, tensors: ReadonlyMap<string, SafetensorsTensor>): string {
  const hash = createHash('sha256');
  hash.update(canonicalJson(metadata));
  for (const name of [...tensors.keys()].sort()) {
    const t = tensors.get(name)!;
    hash.update('\n');
    hash.update(JSON.stringify([name, t.dtype, t.shape]));
    hash.update(t.data);
  }
  return `sha256:${hash.digest('hex')}`;
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
