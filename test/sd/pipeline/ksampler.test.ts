import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EpsModel } from '../../../src/sd/pipeline/cfg.js';
import { ksample } from '../../../src/sd/pipeline/ksampler.js';
import { LoadedModel } from '../../../src/sd/pipeline/loaded-model.js';
import { writeTinyModel } from '../../../src/sd/tiny-model.js';
import { emptyChunk, tokenize } from '../../../src/sd/tokenizer/index.js';

/** The KSampler over the real tiny UNet, with the ε-model wrapped to observe its calls. */
describe('ksample with the tiny SD1 model', () => {
  const root = mkdtempSync(join(tmpdir(), 'ksample-'));
  let model: LoadedModel;
  let cond: Float32Array;
  let uncond: Float32Array;

  beforeAll(async () => {
    const path = join(root, 'tiny.safetensors');
    await writeTinyModel(path, { seed: 5 });
    model = await LoadedModel.open(path, {
      graphCacheDir: join(root, 'graphs'),
      dtype: 'float32',
      executionProvider: 'cpu',
      maxShapes: 4,
      log: () => {},
    });
    cond = await model.encodeTokens(tokenize('a red house').chunks[0].ids);
    uncond = await model.encodeTokens(emptyChunk().ids);
  });
  afterAll(() => model.release());

  const unet: EpsModel = (i) => model.unet({ ...i, height: 8, width: 8, kvMode: 'none' });

  function run(cfg: number, eps: EpsModel) {
    return ksample({
      eps,
      positive: [{ data: cond, length: 77 }],
      negative: [{ data: uncond, length: 77 }],
      contextWidth: model.config.unet.contextDim,
      latent: new Float32Array(2 * 4 * 8 * 8),
      latentShape: [2, 4, 8, 8],
      seed: 3,
      steps: 3,
      cfg,
      samplerName: 'euler',
      scheduler: 'normal',
      denoise: 1,
      scalingFactor: 0.18215,
    });
  }

  it('classifier-free guidance runs ONE UNet call per step on the batch [uncond, cond]', async () => {
    const calls: { batch: number; firstContext: number; lastContext: number }[] = [];
    await run(7, async (i) => {
      const per = i.context.length / i.batch;
      calls.push({ batch: i.batch, firstContext: i.context[0], lastContext: i.context[(i.batch - 1) * per] });
      return unet(i);
    });
    expect(calls.map((c) => c.batch)).toEqual([4, 4, 4]); // 2 latents × (uncond, cond)
    expect(calls[0].firstContext).toBe(uncond[0]);
    expect(calls[0].lastContext).toBe(cond[0]);
  });

  it('the batched call equals separate uncond and cond calls (the batch rows do not interact)', async () => {
    const batched = await run(7, unet);
    const split = await run(7, async (i) => {
      const rows = i.sample.length / i.batch;
      const ctx = i.context.length / i.batch;
      const out = new Float32Array(i.sample.length);
      for (let b = 0; b < i.batch; b++) {
        const one = await unet({
          sample: i.sample.slice(b * rows, (b + 1) * rows),
          timestep: i.timestep.slice(b, b + 1),
          context: i.context.slice(b * ctx, (b + 1) * ctx),
          batch: 1,
          contextLength: i.contextLength,
        });
        out.set(one, b * rows);
      }
      return out;
    });
    let diff = 0;
    for (let k = 0; k < batched.length; k++) diff = Math.max(diff, Math.abs(batched[k] - split[k]));
    expect(diff).toBeLessThan(1e-3);
  });

  it('cfg 1 skips the uncond half', async () => {
    const batches: number[] = [];
    await run(1, async (i) => {
      batches.push(i.batch);
      return unet(i);
    });
    expect(batches).toEqual([2, 2, 2]);
  });
});
