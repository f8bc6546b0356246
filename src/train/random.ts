/**
 * Deterministic random streams for training: every draw is a pure function of (seed, step, purpose,
 * index), so a batch does not depend on what ran before it and a resumed run sees the same data.
 */

/** A 32-bit stream seed from any number of non-negative integers (splitmix32-style mixing). */
export function streamSeed(...parts: number[]): number {
  let h = 0x2545f491;
  for (const p of parts) {
    h = mix32((h ^ (p >>> 0)) + 0x9e3779b9);
    h = mix32(h ^ Math.floor(p / 2 ** 32));
  }
  return h >>> 0;
}

function mix32(x: number): number {
  let z = x | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** mulberry32 uniforms in [0, 1). */
export class Uniforms {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}

/** n standard normals (Box–Muller) from one stream seed. */
export function gaussians(seed: number, n: number): Float32Array {
  const u = new Uniforms(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(1 - u.next()));
    const a = 2 * Math.PI * u.next();
    out[i] = r * Math.cos(a);
    if (i + 1 < n) out[i + 1] = r * Math.sin(a);
  }
  return out;
}
