import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openCheckpoint } from '../../src/sd/checkpoint/checkpoint.js';
import { loadTrainState } from '../../src/train/state.js';
import { train, trainPaths } from '../../src/train/trainer.js';
import { bytesOf, testRecipe } from './fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'train-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('train (VAE stage, latent fold, UNet stage) on a tiny model', () => {
  const recipe = testRecipe({ vae: 2, unet: 4 });

  it('a run interrupted twice and resumed equals an uninterrupted run bit for bit, and its output loads as SD1', async () => {
    const straight = join(dir, 'straight.safetensors');
    const a = await train({ out: straight, recipe, stages: ['vae', 'unet'] });
    expect(a.interrupted).toBe(false);
    expect(a.state.stage).toBe('unet');
    expect(a.state.step).toBe(4);

    const resumed = join(dir, 'resumed.safetensors');
    const stopAt = (stage: string, step: number) => {
      const controller = new AbortController();
      return {
        signal: controller.signal,
        onStep: (e: { stage: string; step: number }) => {
          if (e.stage === stage && e.step === step) controller.abort();
        },
      };
    };
    const b1 = await train({ out: resumed, recipe, stages: ['vae', 'unet'], ...stopAt('vae', 1) });
    expect(b1.interrupted).toBe(true);
    expect((await loadTrainState(trainPaths(resumed).state)).step).toBe(1);
    const b2 = await train({
      out: resumed,
      recipe,
      stages: ['vae', 'unet'],
      resume: true,
      ...stopAt('unet', 2),
    });
    expect(b2.interrupted).toBe(true);
    const b3 = await train({ out: resumed, recipe, stages: ['vae', 'unet'], resume: true });
    expect(b3.interrupted).toBe(false);

    const sa = await loadTrainState(trainPaths(straight).state);
    const sb = await loadTrainState(trainPaths(resumed).state);
    expect(sb.step).toBe(4);
    expect(sb.latentScale).toBe(sa.latentScale);
    const ba = bytesOf(sa);
    const bb = bytesOf(sb);
    expect([...bb.keys()].sort()).toEqual([...ba.keys()].sort());
    const differing = [...ba].filter(([k, v]) => bb.get(k) !== v).map(([k]) => k);
    expect(differing).toEqual([]);
    expect(ba.size).toBeGreaterThan(100);

    // The loss log holds each step once, in order, after the interruptions.
    const log = readFileSync(trainPaths(resumed).log, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(log.map((e) => `${e.stage}${e.step}`)).toEqual([
      'vae1',
      'vae2',
      'unet1',
      'unet2',
      'unet3',
      'unet4',
    ]);
    const straightLog = readFileSync(trainPaths(straight).log, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(log.map((e) => e.loss)).toEqual(straightLog.map((e) => e.loss));

    // The exported model: SD1 layout the loader accepts, recipe in the metadata, UNet = EMA.
    const ckpt = await openCheckpoint(straight);
    try {
      expect(ckpt.config.unet.channelMult).toEqual([1, 2]);
      const meta = ckpt.metadata;
      expect(meta['cones.random_weights']).toBe('false');
      expect(JSON.parse(meta['cones.train.recipe']).seed).toBe(recipe.seed);
      expect(JSON.parse(meta['cones.train.steps'])).toEqual({ vae: 2, unet: 4 });
      expect(Object.keys(JSON.parse(meta['cones.train.final_losses']))).toEqual(['vae', 'unet']);
      const key = 'model.diffusion_model.out.2.weight';
      expect(Array.from(await ckpt.readF32(key))).toEqual(Array.from(sa.ema.get(key)!));
      expect(Array.from(sa.ema.get(key)!)).not.toEqual(Array.from(sa.weights.values.get(key)!));
    } finally {
      await ckpt.close();
    }
  }, 120_000);

  it('refuses a damaged training state, a changed recipe, and starting over a state without --resume', async () => {
    const out = join(dir, 'straight.safetensors');
    await expect(train({ out, recipe, stages: ['vae', 'unet'] })).rejects.toThrow(/--resume/);
    await expect(
      train({ out, recipe: { ...recipe, seed: recipe.seed + 1 }, stages: ['unet'], resume: true }),
    ).rejects.toThrow(/differs in 'seed'/);
    const statePath = trainPaths(out).state;
    const bytes = readFileSync(statePath);
    bytes[bytes.length - 3] ^= 0x40;
    writeFileSync(statePath, bytes);
    await expect(loadTrainState(statePath)).rejects.toThrow(/checksum/);
  });
});
