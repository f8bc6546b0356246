import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCheckpoint } from '../../../src/sd/checkpoint/checkpoint.js';
import {
  buildVaeDecoderGraph,
  buildVaeEncoderGraph,
  SD1_VAE_SCALING_FACTOR,
  VAE_DECODER_OUTPUT,
  VAE_ENCODER_OUTPUTS,
} from '../../../src/sd/graphs/vae.js';
import { loadWeights } from '../../../src/sd/graphs/weights.js';
import { writeTinyModel } from '../../../src/sd/tiny-model.js';
import { allFinite, maxAbsDiff, refWeights, signal, type TinyFixture, tinyFixture } from './fixtures.js';
import { vaeDecode, vaeEncode } from './reference.js';

let fx: TinyFixture;
beforeAll(async () => {
  fx = await tinyFixture();
});
afterAll(async () => {
  await fx?.close();
});

const refSpec = (fx: TinyFixture) => {
  const v = fx.checkpoint.config.vae;
  return {
    prefix: 'first_stage_model.',
    channelMult: v.channelMult,
    numResBlocks: v.numResBlocks,
    groups: v.normGroups,
  };
};

describe('SD1 VAE graphs', () => {
  it('exposes the SD1 latent scaling factor for the pipeline', () => {
    expect(SD1_VAE_SCALING_FACTOR).toBe(0.18215);
    expect(fx.checkpoint.config.vae.scalingFactor).toBe(SD1_VAE_SCALING_FACTOR);
  });

  it('encoder: image [2,3,32,32] → mean and clamped logvar [2,4,4,4], equal to the plain-TS reference to 1e-4', async () => {
    const weights = await fx.weights('vae');
    const session = await fx.open(
      buildVaeEncoderGraph(fx.checkpoint.config, weights, { batch: 2, height: 32, width: 32 }).graph,
      'vae-enc',
    );
    const image = signal(2 * 3 * 32 * 32, 5);
    const out = await session.run({ sample: { dtype: 'float32', shape: [2, 3, 32, 32], data: image } });
    const mean = out[VAE_ENCODER_OUTPUTS.mean];
    const logvar = out[VAE_ENCODER_OUTPUTS.logvar];
    expect(mean.shape).toEqual([2, 4, 4, 4]);
    expect(logvar.shape).toEqual([2, 4, 4, 4]);
    expect(allFinite(mean.data as Float32Array)).toBe(true);
    const n = 3 * 32 * 32;
    const m = 4 * 16;
    for (let b = 0; b < 2; b++) {
      const ref = vaeEncode(refWeights(weights), refSpec(fx), {
        c: 3,
        h: 32,
        w: 32,
        d: Float64Array.from(image.subarray(b * n, (b + 1) * n)),
      });
      expect(
        maxAbsDiff((mean.data as Float32Array).subarray(b * m, (b + 1) * m), ref.d.subarray(0, m)),
      ).toBeLessThan(1e-4);
      const refLogvar = ref.d.subarray(m).map((v) => Math.min(20, Math.max(-30, v)));
      expect(maxAbsDiff((logvar.data as Float32Array).subarray(b * m, (b + 1) * m), refLogvar)).toBeLessThan(
        1e-4,
      );
    }
  });

  it('decoder: latent [1,4,4,6] → image [1,3,32,48], equal to the plain-TS reference to 1e-4', async () => {
    const weights = await fx.weights('vae');
    const session = await fx.open(
      buildVaeDecoderGraph(fx.checkpoint.config, weights, { batch: 1, height: 4, width: 6 }).graph,
      'vae-dec',
    );
    const z = signal(4 * 24, 6);
    const out = (await session.run({ latent_sample: { dtype: 'float32', shape: [1, 4, 4, 6], data: z } }))[
      VAE_DECODER_OUTPUT
    ];
    expect(out.shape).toEqual([1, 3, 32, 48]);
    expect(allFinite(out.data as Float32Array)).toBe(true);
    const ref = vaeDecode(refWeights(weights), refSpec(fx), { c: 4, h: 4, w: 6, d: Float64Array.from(z) });
    expect(maxAbsDiff(out.data as Float32Array, ref.d)).toBeLessThan(1e-4);
  });

  it('size-agnostic encoder and decoder built at one size run at others, equal to the per-size graphs', async () => {
    const weights = await fx.weights('vae');
    const { config } = fx.checkpoint;
    const dec = await fx.open(
      buildVaeDecoderGraph(config, weights, { batch: 1, height: 2, width: 2, sizeAgnostic: true }).graph,
      'vae-dec-any',
    );
    const enc = await fx.open(
      buildVaeEncoderGraph(config, weights, { batch: 1, height: 16, width: 16, sizeAgnostic: true }).graph,
      'vae-enc-any',
    );
    for (const [batch, h, w] of [
      [1, 4, 6],
      [2, 3, 5],
    ] as const) {
      const z = signal(batch * 4 * h * w, 6);
      const feed = { latent_sample: { dtype: 'float32' as const, shape: [batch, 4, h, w], data: z } };
      const fixed = await fx.open(
        buildVaeDecoderGraph(config, weights, { batch, height: h, width: w }).graph,
        `vae-dec-${batch}-${h}x${w}`,
      );
      const got = (await dec.run(feed))[VAE_DECODER_OUTPUT];
      expect(got.shape).toEqual([batch, 3, 8 * h, 8 * w]);
      const want = (await fixed.run(feed))[VAE_DECODER_OUTPUT].data as Float32Array;
      expect(maxAbsDiff(got.data as Float32Array, want)).toBeLessThan(1e-5);

      const image = signal(batch * 3 * 64 * h * w, 7);
      const imageFeed = {
        sample: { dtype: 'float32' as const, shape: [batch, 3, 8 * h, 8 * w], data: image },
      };
      const fixedEnc = await fx.open(
        buildVaeEncoderGraph(config, weights, { batch, height: 8 * h, width: 8 * w }).graph,
        `vae-enc-${batch}-${h}x${w}`,
      );
      const gotMean = (await enc.run(imageFeed))[VAE_ENCODER_OUTPUTS.mean];
      expect(gotMean.shape).toEqual([batch, 4, h, w]);
      const wantMean = (await fixedEnc.run(imageFeed))[VAE_ENCODER_OUTPUTS.mean].data as Float32Array;
      expect(maxAbsDiff(gotMean.data as Float32Array, wantMean)).toBeLessThan(1e-5);
    }
  });

  it('encoder on a non-square image (16×24) agrees with the reference, whose downsampling pads right/bottom only', async () => {
    // Symmetric padding would shift every stride-2 window by one pixel and break the agreement.
    const weights = await fx.weights('vae');
    const session = await fx.open(
      buildVaeEncoderGraph(fx.checkpoint.config, weights, { batch: 1, height: 16, width: 24 }).graph,
      'vae-enc-rect',
    );
    const image = signal(3 * 16 * 24, 9);
    const out = await session.run({ sample: { dtype: 'float32', shape: [1, 3, 16, 24], data: image } });
    const ref = vaeEncode(refWeights(weights), refSpec(fx), {
      c: 3,
      h: 16,
      w: 24,
      d: Float64Array.from(image),
    });
    expect(out.mean.shape).toEqual([1, 4, 2, 3]);
    expect(maxAbsDiff(out.mean.data as Float32Array, ref.d.subarray(0, 4 * 6))).toBeLessThan(1e-4);
  });

  it('float16 decoder runs with fp16 weights and stays within fp16 precision of float32', async () => {
    const config = fx.checkpoint.config;
    const s16 = await fx.open(
      buildVaeDecoderGraph(config, await fx.weights('vae', 'float16'), {
        batch: 1,
        height: 8,
        width: 8,
        dtype: 'float16',
      }).graph,
      'vae-dec-16',
    );
    const s32 = await fx.open(
      buildVaeDecoderGraph(config, await fx.weights('vae'), { batch: 1, height: 8, width: 8 }).graph,
      'vae-dec-32',
    );
    const z = { latent_sample: { dtype: 'float32' as const, shape: [1, 4, 8, 8], data: signal(4 * 64, 6) } };
    const y16 = (await s16.run(z)).sample.data as Float32Array;
    const y32 = (await s32.run(z)).sample.data as Float32Array;
    const scale = Math.max(...Array.from(y32, Math.abs));
    expect(maxAbsDiff(y16, y32) / scale).toBeLessThan(2e-2);
  });

  it('a diffusers-folder checkpoint of the same weights decodes identically (canonical keys, 4-D attention weights)', async () => {
    const folder = join(fx.dir, 'tiny-diffusers');
    await writeTinyModel(folder, { seed: 7, layout: 'diffusers' });
    const diffusers = await openCheckpoint(folder);
    try {
      const config = fx.checkpoint.config;
      const wd = await loadWeights(diffusers, diffusers.keysOf('vae'), 'float32');
      const sd = await fx.open(
        buildVaeDecoderGraph(config, wd, { batch: 1, height: 4, width: 4 }).graph,
        'vae-dec-diffusers',
      );
      const ss = await fx.open(
        buildVaeDecoderGraph(config, await fx.weights('vae'), { batch: 1, height: 4, width: 4 }).graph,
        'vae-dec-single',
      );
      const z = { latent_sample: { dtype: 'float32' as const, shape: [1, 4, 4, 4], data: signal(64, 8) } };
      expect(
        maxAbsDiff(
          (await sd.run(z)).sample.data as Float32Array,
          (await ss.run(z)).sample.data as Float32Array,
        ),
      ).toBe(0);
    } finally {
      await diffusers.close();
    }
  });

  it('refuses image sizes that are not multiples of 8', async () => {
    const weights = await fx.weights('vae');
    expect(() =>
      buildVaeEncoderGraph(fx.checkpoint.config, weights, { batch: 1, height: 30, width: 32 }),
    ).toThrow(/multiple of 8/);
  });
});
