import { describe, expect, it } from 'vitest';
import {
  ADAMW_DEFAULTS,
  adamwUpdate,
  clipScale,
  emaDecay,
  emaUpdate,
  globalNorm,
  learningRate,
} from '../../src/train/optimizer.js';

describe('AdamW', () => {
  it('matches a hand-computed three-step reference (PyTorch AdamW arithmetic, decoupled decay)', () => {
    // One scalar parameter p0 = 1, lr 0.1, λ = 0.1, gradients 0.5, −0.2, 0.4.
    // t=1: p = 1·(1 − 0.01) = 0.99; m = 0.05; v = 0.00025; m̂ = 0.5; v̂ = 0.25 → p −= 0.1·0.5/(0.5 + 1e-8)
    const p = new Float32Array([1]);
    const slot = { m: new Float32Array(1), v: new Float32Array(1) };
    const s = { ...ADAMW_DEFAULTS, weightDecay: 0.1 };
    adamwUpdate(p, [0.5], slot, 0.1, 1, s, true);
    expect(p[0]).toBeCloseTo(0.99 - 0.1 * (0.5 / (0.5 + 1e-8)), 6);
    expect(slot.m[0]).toBeCloseTo(0.05, 7);
    expect(slot.v[0]).toBeCloseTo(0.00025, 9);
    // t=2: m = 0.9·0.05 + 0.1·(−0.2) = 0.025; v = 0.999·0.00025 + 0.001·0.04 = 0.00028975
    //      m̂ = 0.025/0.19 = 0.131578947…; v̂ = 0.00028975/0.001999 = 0.144947473…
    const p1 = p[0];
    adamwUpdate(p, [-0.2], slot, 0.1, 2, s, true);
    const m2 = 0.025 / 0.19;
    const v2 = 0.00028975 / (1 - 0.999 ** 2);
    expect(slot.m[0]).toBeCloseTo(0.025, 7);
    expect(slot.v[0]).toBeCloseTo(0.00028975, 9);
    expect(p[0]).toBeCloseTo(p1 * 0.99 - (0.1 * m2) / (Math.sqrt(v2) + 1e-8), 6);
    // t=3, no decay this time (a norm / bias tensor): m = 0.0625, v = 0.000449460…
    const p2 = p[0];
    adamwUpdate(p, [0.4], slot, 0.1, 3, s, false);
    const m3 = (0.9 * 0.025 + 0.1 * 0.4) / (1 - 0.9 ** 3);
    const v3 = (0.999 * 0.00028975 + 0.001 * 0.16) / (1 - 0.999 ** 3);
    expect(p[0]).toBeCloseTo(p2 - (0.1 * m3) / (Math.sqrt(v3) + 1e-8), 6);
  });

  it('first step moves every coordinate by ≈ lr against its gradient sign, whatever the gradient scale', () => {
    const p = new Float32Array([0, 0, 0]);
    const slot = { m: new Float32Array(3), v: new Float32Array(3) };
    adamwUpdate(p, [1e-3, -50, 2], slot, 0.01, 1, ADAMW_DEFAULTS, false);
    expect(Array.from(p, (x) => Number(x.toFixed(6)))).toEqual([-0.01, 0.01, -0.01]);
  });

  it('gradScale (clipping) scales the gradient before the moments', () => {
    const a = new Float32Array([1]);
    const b = new Float32Array([1]);
    const sa = { m: new Float32Array(1), v: new Float32Array(1) };
    const sb = { m: new Float32Array(1), v: new Float32Array(1) };
    adamwUpdate(a, [4], sa, 0.1, 1, ADAMW_DEFAULTS, false, 0.25);
    adamwUpdate(b, [1], sb, 0.1, 1, ADAMW_DEFAULTS, false);
    expect(sa.m[0]).toBe(sb.m[0]);
    expect(a[0]).toBe(b[0]);
  });
});

describe('clipping, schedule, EMA', () => {
  it('global norm over all tensors, clip factor as torch.nn.utils.clip_grad_norm_', () => {
    expect(globalNorm([[3], [4, 0]])).toBe(5);
    expect(clipScale(5, 1)).toBeCloseTo(1 / (5 + 1e-6), 12);
    expect(clipScale(0.5, 1)).toBe(1);
    expect(clipScale(5, 0)).toBe(1);
  });

  it('linear warm-up, then cosine to minLr at totalSteps, or constant', () => {
    const s = { lr: 1, warmupSteps: 4, decay: 'cosine' as const, totalSteps: 14, minLr: 0.1 };
    expect([0, 1, 2, 3].map((t) => learningRate(s, t))).toEqual([0.25, 0.5, 0.75, 1]);
    expect(learningRate(s, 4)).toBe(1);
    expect(learningRate(s, 9)).toBeCloseTo(0.55, 12); // halfway: 0.1 + 0.9·0.5
    expect(learningRate(s, 14)).toBeCloseTo(0.1, 12);
    expect(learningRate({ ...s, decay: 'constant' }, 9)).toBe(1);
  });

  it('EMA decay ramps in as (1 + t)/(10 + t) up to its cap; update is d·ema + (1 − d)·p', () => {
    expect(emaDecay(0.999, 0)).toBeCloseTo(0.1, 12);
    expect(emaDecay(0.999, 90)).toBeCloseTo(0.91, 12);
    expect(emaDecay(0.999, 1e6)).toBe(0.999);
    const ema = new Float32Array([1, 2]);
    emaUpdate(ema, new Float32Array([3, 2]), 0.75);
    expect(Array.from(ema)).toEqual([1.5, 2]);
  });
});
