import { describe, expect, it } from 'vitest';
import { type EpsModel, guidedDenoiser } from '../../../src/sd/pipeline/cfg.js';

/** ε̂ = mean of the context row (so cond/uncond give different, known predictions). */
function recordingEps(calls: { batch: number; contextLength: number }[]): EpsModel {
  return async ({ sample, context, batch, contextLength }) => {
    calls.push({ batch, contextLength });
    const per = sample.length / batch;
    const ctxPer = context.length / batch;
    const out = new Float32Array(sample.length);
    for (let b = 0; b < batch; b++) {
      let m = 0;
      for (let i = 0; i < ctxPer; i++) m += context[b * ctxPer + i];
      m /= ctxPer;
      for (let i = 0; i < per; i++) out[b * per + i] = m;
    }
    return out;
  };
}

const entry = (value: number, length = 2, width = 3) => ({
  data: new Float32Array(length * width).fill(value),
  length,
});

describe('guidedDenoiser', () => {
  it('evaluates uncond and cond in one batched call and mixes x̂₀ as u + (c − u)·cfg', async () => {
    const calls: { batch: number; contextLength: number }[] = [];
    const denoise = guidedDenoiser({
      eps: recordingEps(calls),
      positive: [entry(1)],
      negative: [entry(3)],
      cfg: 7,
      batch: 2,
      latentSize: 4,
      contextWidth: 3,
      timestepOf: () => 999,
    });
    const x = new Float32Array(8).fill(10);
    const out = await denoise(x, 2);
    expect(calls).toEqual([{ batch: 4, contextLength: 2 }]);
    const c = 10 - 2 * 1;
    const u = 10 - 2 * 3;
    for (const v of out) expect(v).toBeCloseTo(u + (c - u) * 7, 5);
  });

  it('skips the uncond half when cfg is 1', async () => {
    const calls: { batch: number; contextLength: number }[] = [];
    const denoise = guidedDenoiser({
      eps: recordingEps(calls),
      positive: [entry(1)],
      negative: [entry(3)],
      cfg: 1,
      batch: 1,
      latentSize: 4,
      contextWidth: 3,
      timestepOf: () => 0,
    });
    const out = await denoise(new Float32Array(4).fill(5), 1);
    expect(calls).toEqual([{ batch: 1, contextLength: 2 }]);
    expect([...out]).toEqual([4, 4, 4, 4]);
  });

  it('repeats shorter contexts to a common length so long prompts batch with short ones', async () => {
    const calls: { batch: number; contextLength: number }[] = [];
    const denoise = guidedDenoiser({
      eps: recordingEps(calls),
      positive: [entry(1, 4)],
      negative: [entry(3, 2)],
      cfg: 2,
      batch: 1,
      latentSize: 1,
      contextWidth: 3,
      timestepOf: () => 0,
    });
    const out = await denoise(new Float32Array([0]), 1);
    expect(calls).toEqual([{ batch: 2, contextLength: 4 }]);
    expect(out[0]).toBeCloseTo(-3 + (-1 + 3) * 2, 6);
  });

  it('scales the UNet input by 1/√(σ²+1)', async () => {
    let seen = 0;
    const denoise = guidedDenoiser({
      eps: async ({ sample }) => {
        seen = sample[0];
        return new Float32Array(sample.length);
      },
      positive: [entry(0)],
      negative: [entry(0)],
      cfg: 1,
      batch: 1,
      latentSize: 1,
      contextWidth: 3,
      timestepOf: () => 0,
    });
    await denoise(new Float32Array([3]), Math.sqrt(8));
    expect(seen).toBeCloseTo(1, 6);
  });
});
