/**
 * Prior-preservation latents generated with the base model ("photo of a {class}"), cached in the
 * extraction folder by (model, prompt, count, resolution, seed, sampler settings). They stay in latent
 * space: decoding to pixels and encoding back would only add the VAE's round-trip error.
 */
import { createHash } from 'node:crypto';
import type { Sd1Sessions } from '../../sd/graphs/sessions.js';
import { SD1_VAE_SCALING_FACTOR } from '../../sd/graphs/vae.js';
import { ksample } from '../../sd/pipeline/ksampler.js';
import { encodePrompt, type LatentSet } from './data.js';
import { PRIOR_SAMPLING } from './protocol.js';
import type { ExtractionStore } from './store.js';

export async function generatedPriors(
  sessions: Sd1Sessions,
  store: ExtractionStore,
  {
    cfg,
    ...o
  }: { fingerprint: string; prompt: string; count: number; resolution: number; seed: number; cfg: number },
  report: { checkInterrupt(): void; progress(value: number, max: number): void; log(m: string): void },
): Promise<LatentSet> {
  // The default guidance leaves the key as it was before the guidance could be chosen.
  const sampling = { ...PRIOR_SAMPLING, cfg };
  const hash = createHash('sha256')
    .update(JSON.stringify({ ...o, sampling }))
    .digest('hex')
    .slice(0, 32);
  const h = o.resolution / 8;
  const size = 4 * h * h;
  const cached = store.loadPriors(hash);
  if (cached && cached.data.length === o.count * size) {
    report.log(`cones: reusing ${o.count} cached prior latents for "${o.prompt}"`);
    return { mean: cached.data, count: o.count, scaled: true };
  }
  const width = sessions.config.unet.contextDim;
  const positive = [{ data: await encodePrompt(sessions, o.prompt), length: 77 }];
  const negative = [{ data: await encodePrompt(sessions, ''), length: 77 }];
  const latents = new Float32Array(o.count * size);
  report.log(`cones: generating ${o.count} prior images of "${o.prompt}" with the base model`);
  for (let i = 0; i < o.count; i++) {
    report.checkInterrupt();
    const out = await ksample({
      eps: async (x) => {
        const unet = await sessions.unet({
          batch: x.batch,
          height: h,
          width: h,
          contextLength: x.contextLength,
          kvMode: 'none',
        });
        return (await unet.run({
          sample: x.sample,
          timestep: x.timestep,
          context: x.context,
        })) as Float32Array;
      },
      positive,
      negative,
      contextWidth: width,
      latent: new Float32Array(size),
      latentShape: [1, 4, h, h],
      seed: o.seed + i,
      steps: PRIOR_SAMPLING.steps,
      cfg,
      samplerName: PRIOR_SAMPLING.sampler,
      scheduler: PRIOR_SAMPLING.scheduler,
      denoise: 1,
      scalingFactor: SD1_VAE_SCALING_FACTOR,
      checkInterrupt: report.checkInterrupt,
    });
    // ksample returns VAE-space latents; training wants model space.
    for (let j = 0; j < size; j++) latents[i * size + j] = out[j] * SD1_VAE_SCALING_FACTOR;
    report.progress(i + 1, o.count);
  }
  store.savePriors(hash, latents, [o.count, 4, h, h]);
  return { mean: latents, count: o.count, scaled: true };
}
