/** A recipe small enough for tests: 2-level UNet and VAE, 16-pixel images (VAE: 8-pixel crops), batch 2. */
import { cloneConfig } from '../../src/sd/config.js';
import { TINY_SD1_CONFIG } from '../../src/sd/tiny-model.js';
import type { TrainRecipe } from '../../src/train/recipe.js';
import { defaultRecipe } from '../../src/train/recipe.js';

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
