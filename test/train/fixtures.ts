/** A recipe small enough for tests: 2-level UNet and VAE, 16-pixel images (VAE: 8-pixel crops), batch 2. */
import { cloneConfig } from '../../src/sd/config.js';
import { TINY_SD1_CONFIG } from '../../src/sd/tiny-model.js';
import type { TrainRecipe } from '../../src/train/recipe.js';
import { defaultRecipe } from '../../src/train/recipe.js';
import type { TrainState } from '../../src/train/state.js';

export function testRecipe(steps: { vae: number; unet: number }): TrainRecipe {
  const c = cloneConfig(TINY_SD1_CONFIG);
  c.unet.channelMult = [1, 2];
  c.unet.attentionLevels = [true, false];
  c.unet.numResBlocks = 1;
  c.unet.modelChannels = 16;
  c.unet.timeEmbedDim = 64;
  c.vae.channelMult = [1, 2];
  c.vae.numResBlocks = 1;
  const r = defaultRecipe({ config: c, seed: 3 });
  r.imageSize = 16;
  r.threads = 1;
  r.checkpointEvery = 2;
  r.vae = { ...r.vae, steps: steps.vae, batch: 2, warmupSteps: 1, cropSize: 8 };
  r.unet = { ...r.unet, steps: steps.unet, batch: 2, warmupSteps: 1 };
  return r;
}

/** Every tensor of a state (weights, moments, EMA) as one map of byte strings. */
export function bytesOf(state: TrainState): Map<string, string> {
  const out = new Map<string, string>();
  const put = (name: string, a: Float32Array) =>
    out.set(name, Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64'));
  for (const [k, v] of state.weights.values) put(`w:${k}`, v);
  for (const [k, s] of state.slots) {
    put(`m:${k}`, s.m);
    put(`v:${k}`, s.v);
  }
  for (const [k, v] of state.ema) put(`ema:${k}`, v);
  return out;
}
