/**
 * Compressed streams of sorted flat indices (one stream per weight). For a random set of density p
 * the entropy is H(p)/p bits per index (≈ 8.1 at 1 %, 11.4 at 0.1 %); Golomb coding of the gaps
 * with a per-stream divisor is within a few hundredths of a bit of it, so it is the workhorse. The
 * encoder sizes every codec exactly and keeps the smallest:
 *
 *   0 `golomb`      gaps between neurons, Golomb(M)                    sparse, uniform-ish sets
 *   1 `complement`  gaps between the *non*-neurons, Golomb(M)          sets denser than 50 %
 *   2 `bitmap`      one bit per weight element                         density around 20–50 %
 *   3 `runs`        alternating run lengths, Golomb(M₀) / Golomb(M₁)   clustered sets (whole rows)
 *
 * Stream layout: byte codec id, varint count (number of indices), codec parameters (varints),
 * then the MSB-first bit payload, zero-padded to a byte. The weight's element count is not stored:
 * the reader supplies it from the file metadata.
 */
import { BitReader, BitWriter, GolombCode, IndexStreamError, varintLength } from './bits.js';

export { IndexStreamError };

export const INDEX_CODECS = ['golomb', 'complement', 'bitmap', 'runs'] as const;
export type IndexCodec = (typeof INDEX_CODECS)[number];

/** Throws unless `indices` is strictly increasing and inside [0, numel). */
export function checkIndices(indices: ArrayLike<number>, numel: number, what = 'indices'): void {
  let previous = -1;
  for (let i = 0; i < indices.length; i++) {
    const v = indices[i];
    if (!Number.isInteger(v) || v < 0)
      throw new IndexStreamError(`${what}: index ${v} at position ${i} is not a non-negative integer`);
    if (v >= numel)
      throw new IndexStreamError(
        `${what}: index ${v} at position ${i} is out of range (weight has ${numel} elements)`,
      );
    if (v === previous) throw new IndexStreamError(`${what}: duplicate index ${v} at position ${i}`);
    if (v < previous)
      throw new IndexStreamError(`${what}: indices are not sorted (${v} after ${previous} at position ${i})`);
    previous = v;
  }
}

/** Gap g_i = x_i − x_{i−1} − 1 (x_{−1} = −1), so every gap is ≥ 0. */
function gapsOf(sorted: Uint32Array): Uint32Array {
  const gaps = new Uint32Array(sorted.length);
  let previous = -1;
  for (let i = 0; i < sorted.length; i++) {
    gaps[i] = sorted[i] - previous - 1;
    previous = sorted[i];
  }
  return gaps;
}

function complementOf(sorted: Uint32Array, numel: number): Uint32Array {
  const out = new Uint32Array(numel - sorted.length);
  let j = 0;
  let k = 0;
  for (let v = 0; v < numel; v++) {
    if (j < sorted.length && sorted[j] === v) j++;
    else out[k++] = v;
  }
  return out;
}

function golombBits(values: Uint32Array, code: GolombCode): number {
  let bits = 0;
  for (let i = 0; i < values.length; i++) bits += code.cost(values[i]);
  return bits;
}

/** The divisor minimizing the exact coded size, searched around the geometric optimum. */
function bestGolomb(values: Uint32Array): { code: GolombCode; bits: number } {
  if (values.length === 0) return { code: new GolombCode(1), bits: 0 };
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i];
  const mean = sum / values.length;
  const candidates = new Set<number>([1]);
  if (mean > 0) {
    // Geometric source with P(gap = g) = (1−p)^g·p has mean (1−p)/p; Golomb's optimal M solves (1−p)^M ≈ 1/2.
    // Real sets are not exactly geometric, so the neighbours and the nearest Rice divisor are sized too.
    const p = 1 / (mean + 1);
    const optimal = Math.ceil(Math.log(2 - p) / -Math.log1p(-p));
    const power = 2 ** Math.round(Math.log2(Math.max(1, optimal)));
    for (const m of [optimal - 1, optimal, optimal + 1, power])
      candidates.add(Math.min(2 ** 24, Math.max(1, m)));
    if (optimal > 1) candidates.delete(1);
  }
  let best = { code: new GolombCode(1), bits: Number.POSITIVE_INFINITY };
  for (const m of candidates) {
    const code = new GolombCode(m);
    const bits = golombBits(values, code);
    if (bits < best.bits) best = { code, bits };
  }
  return best;
}

/** Alternating runs: zero-run before each one-run (first may be 0, later ones ≥ 1), one-runs ≥ 1. */
function runsOf(sorted: Uint32Array, runCount: number): { zeros: Uint32Array; ones: Uint32Array } {
  const zeros = new Uint32Array(runCount);
  const ones = new Uint32Array(runCount);
  let r = 0;
  let i = 0;
  let end = 0; // one past the previous one-run
  while (i < sorted.length) {
    const start = sorted[i];
    let j = i + 1;
    while (j < sorted.length && sorted[j] === sorted[j - 1] + 1) j++;
    zeros[r] = r === 0 ? start - end : start - end - 1;
    ones[r] = j - i - 1;
    r++;
    end = sorted[j - 1] + 1;
    i = j;
  }
  return { zeros, ones };
}

const bytesOf = (bits: number) => Math.ceil(bits / 8);

interface Plan {
  codec: IndexCodec;
  bytes: number;
  write(w: BitWriter): void;
}

function plans(sorted: Uint32Array, numel: number): Plan[] {
  const n = sorted.length;
  const header = 1 + varintLength(n);
  const out: Plan[] = [];

  const gaps = gapsOf(sorted);
  const g = bestGolomb(gaps);
  out.push({
    codec: 'golomb',
    bytes: header + varintLength(g.code.m) + bytesOf(g.bits),
    write: (w) => {
      w.writeVarint(g.code.m);
      for (let i = 0; i < gaps.length; i++) g.code.write(w, gaps[i]);
    },
  });

  if (n > numel / 2) {
    const cgaps = gapsOf(complementOf(sorted, numel));
    const c = bestGolomb(cgaps);
    out.push({
      codec: 'complement',
      bytes: header + varintLength(c.code.m) + bytesOf(c.bits),
      write: (w) => {
        w.writeVarint(c.code.m);
        for (let i = 0; i < cgaps.length; i++) c.code.write(w, cgaps[i]);
      },
    });
  }

  out.push({
    codec: 'bitmap',
    bytes: header + bytesOf(numel),
    write: (w) => {
      let j = 0;
      for (let v = 0; v < numel; v++) {
        const bit = j < n && sorted[j] === v ? 1 : 0;
        j += bit;
        w.writeBits(bit, 1);
      }
    },
  });

  // Run-length coding only pays when runs are long; count them before building anything.
  let runCount = n > 0 ? 1 : 0;
  for (let i = 1; i < n; i++) if (sorted[i] !== sorted[i - 1] + 1) runCount++;
  if (n > 0 && runCount <= 0.75 * n) {
    const { zeros, ones } = runsOf(sorted, runCount);
    const z = bestGolomb(zeros);
    const o = bestGolomb(ones);
    out.push({
      codec: 'runs',
      bytes:
        header +
        varintLength(zeros.length) +
        varintLength(z.code.m) +
        varintLength(o.code.m) +
        bytesOf(z.bits + o.bits),
      write: (w) => {
        w.writeVarint(zeros.length);
        w.writeVarint(z.code.m);
        w.writeVarint(o.code.m);
        for (let i = 0; i < zeros.length; i++) {
          z.code.write(w, zeros[i]);
          o.code.write(w, ones[i]);
        }
      },
    });
  }
  return out;
}

/** Size of each applicable codec in bytes (for reports), without encoding. */
export function codecSizes(sorted: Uint32Array, numel: number): Partial<Record<IndexCodec, number>> {
  const sizes: Partial<Record<IndexCodec, number>> = {};
  for (const p of plans(sorted, numel)) sizes[p.codec] = p.bytes;
  return sizes;
}

/**
 * Encodes strictly increasing flat indices of a weight with `numel` elements using the smallest
 * codec (or the one forced by `options.codec`).
 */
export function encodeIndices(
  sorted: Uint32Array,
  numel: number,
  options: { codec?: IndexCodec; check?: boolean } = {},
): { bytes: Uint8Array; codec: IndexCodec } {
  if (options.check !== false) checkIndices(sorted, numel);
  const candidates = plans(sorted, numel);
  let plan = candidates[0];
  if (options.codec) {
    const forced = candidates.find((p) => p.codec === options.codec);
    if (!forced) throw new IndexStreamError(`codec '${options.codec}' does not apply to this index set`);
    plan = forced;
  } else {
    for (const p of candidates) if (p.bytes < plan.bytes) plan = p;
  }
  const w = new BitWriter(plan.bytes + 8);
  w.writeByte(INDEX_CODECS.indexOf(plan.codec));
  w.writeVarint(sorted.length);
  plan.write(w);
  const bytes = w.finish();
  if (bytes.length !== plan.bytes)
    throw new Error(`internal: ${plan.codec} planned ${plan.bytes} bytes, wrote ${bytes.length}`);
  return { bytes, codec: plan.codec };
}

/** The codec id and index count recorded at the head of a stream. */
export function peekIndexStream(bytes: Uint8Array): { codec: IndexCodec; count: number } {
  const r = new BitReader(bytes);
  const id = r.readByte();
  const codec = INDEX_CODECS[id];
  if (!codec) throw new IndexStreamError(`unknown index codec id ${id}`);
  return { codec, count: r.readVarint() };
}

/** Decodes a stream written by `encodeIndices` for a weight of `numel` elements, checking every bound. */
export function decodeIndices(bytes: Uint8Array, numel: number): Uint32Array {
  const r = new BitReader(bytes);
  const id = r.readByte();
  const codec = INDEX_CODECS[id];
  if (!codec) throw new IndexStreamError(`unknown index codec id ${id}`);
  const count = r.readVarint();
  if (count > numel)
    throw new IndexStreamError(`index stream claims ${count} indices but the weight has ${numel} elements`);
  // Every Golomb code takes at least one bit and a bitmap one bit per element: refuse before allocating.
  const bits = 8 * bytes.length;
  const coded =
    codec === 'golomb' ? count : codec === 'complement' ? numel - count : codec === 'bitmap' ? numel : 0;
  if (coded > bits) {
    throw new IndexStreamError(
      `index stream is truncated (${count} indices cannot fit in ${bytes.length} bytes)`,
    );
  }
  const out = new Uint32Array(count);
  const outOfRange = (v: number): never => {
    throw new IndexStreamError(
      `index stream decodes index ${v}, out of range for a weight of ${numel} elements`,
    );
  };

  if (codec === 'golomb') {
    const code = new GolombCode(r.readVarint());
    let v = -1;
    for (let i = 0; i < count; i++) {
      v += code.read(r) + 1;
      if (v >= numel) outOfRange(v);
      out[i] = v;
    }
  } else if (codec === 'complement') {
    const code = new GolombCode(r.readVarint());
    const holes = numel - count;
    let k = 0;
    let next = 0; // next candidate index not yet emitted
    let v = -1;
    for (let i = 0; i < holes; i++) {
      v += code.read(r) + 1;
      if (v >= numel) outOfRange(v);
      while (next < v) out[k++] = next++;
      next = v + 1;
    }
    while (next < numel) out[k++] = next++;
  } else if (codec === 'bitmap') {
    let k = 0;
    for (let v = 0; v < numel; v++) {
      if (r.readBits(1) === 1) {
        if (k === count)
          throw new IndexStreamError(`bitmap has more than the ${count} indices its header claims`);
        out[k++] = v;
      }
    }
    if (k !== count) throw new IndexStreamError(`bitmap has ${k} indices, its header claims ${count}`);
  } else {
    const nRuns = r.readVarint();
    const zeros = new GolombCode(r.readVarint());
    const ones = new GolombCode(r.readVarint());
    let k = 0;
    let v = 0;
    for (let i = 0; i < nRuns; i++) {
      v += zeros.read(r) + (i === 0 ? 0 : 1);
      const length = ones.read(r) + 1;
      if (k + length > count)
        throw new IndexStreamError(`runs hold more than the ${count} indices the header claims`);
      if (v + length > numel) outOfRange(v + length - 1);
      for (let j = 0; j < length; j++) out[k++] = v++;
    }
    if (k !== count) throw new IndexStreamError(`runs hold ${k} indices, the header claims ${count}`);
  }
  r.expectEnd();
  return out;
}
