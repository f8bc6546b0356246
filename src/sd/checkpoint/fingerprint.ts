/**
 * Model fingerprint: identifies the *weights*, not the file. The fp16 and fp32 files of one model,
 * and its single-file and diffusers-folder forms, give the same fingerprint, because it hashes
 * canonical LDM keys, canonical shapes, and a sample of values rounded to fp16 (an fp16 file is
 * an fp32 file rounded to nearest even, so rounding the fp32 values reproduces its bits).
 *
 * Cost: two small positioned reads per tensor (the first 32 elements and 32 from the middle) —
 * about 70 KB read from an SD1 file, never the 2–4 GB of weights. Any fine-tune or merge changes
 * these samples. A change confined to elements outside them would go unnoticed; callers that must
 * catch edits of that kind should add the file's size and mtime to their cache key.
 */
import { createHash } from 'node:crypto';
import { bytesToF16Bits, type FloatDtype, numel } from './dtype.js';

export const FINGERPRINT_VERSION = 'cones-sd1-fingerprint-v1';
const WINDOW = 32;

export interface FingerprintSource {
  readonly keys: readonly string[];
  shapeOf(key: string): readonly number[];
  dtypeOf(key: string): FloatDtype;
  readElements(key: string, first: number, count: number): Promise<Uint8Array>;
}

/** The windows of elements sampled from a tensor of n elements. */
export function sampleWindows(n: number): [first: number, count: number][] {
  if (n <= 2 * WINDOW) return [[0, n]];
  return [
    [0, WINDOW],
    [Math.floor(n / 2) - WINDOW / 2, WINDOW],
  ];
}

/** 32 hex characters (128 bits of SHA-256). */
export async function computeFingerprint(source: FingerprintSource): Promise<string> {
  const keys = [...source.keys].sort();
  const samples = await Promise.all(
    keys.map(async (key) => {
      const dtype = source.dtypeOf(key);
      const windows = sampleWindows(numel(source.shapeOf(key)));
      return Promise.all(
        windows.map(async ([first, count]) =>
          canonicalHalf(bytesToF16Bits(await source.readElements(key, first, count), dtype)),
        ),
      );
    }),
  );
  const hash = createHash('sha256');
  hash.update(`${FINGERPRINT_VERSION}\n`);
  keys.forEach((key, i) => {
    hash.update(`${key}[${source.shapeOf(key).join(',')}]\n`);
    for (const bits of samples[i]) hash.update(new Uint8Array(bits.buffer, bits.byteOffset, bits.byteLength));
  });
  return hash.digest('hex').slice(0, 32);
}

/** One bit pattern per value: every NaN becomes the canonical quiet NaN. */
function canonicalHalf(bits: Uint16Array): Uint16Array {
  const out = new Uint16Array(bits.length);
  for (let i = 0; i < bits.length; i++) {
    const b = bits[i];
    out[i] = (b & 0x7c00) === 0x7c00 && (b & 0x3ff) !== 0 ? 0x7e00 : b;
  }
  return out;
}
