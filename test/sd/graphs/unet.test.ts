import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EngineSession, float16ToFloat32 } from '../../../src/onnx/index.js';
import { unetShapes } from '../../../src/sd/checkpoint/sd1-tensors.js';
import { SD1_CONFIG } from '../../../src/sd/config.js';
import { inKvScope, kvInputName, kvWeights, unetTransformerModules } from '../../../src/sd/graphs/kv.js';
import { attentionChunks, buildUnetGraph, UNET_OUTPUT } from '../../../src/sd/graphs/unet.js';
import type { Weights, WeightTensor } from '../../../src/sd/graphs/weights.js';
import { allFinite, maxAbsDiff, refWeights, signal, type TinyFixture, tinyFixture } from './fixtures.js';
import { unetForward } from './reference.js';

const B = 2;
const H = 8;
const L = 77;

let fx: TinyFixture;
let plainSession: Promise<EngineSession> | undefined;
beforeAll(async () => {
  fx = await tinyFixture();
});

/** The float32, mask-free UNet at [B, 4, H, H], opened once for the whole file. */
function plainUnet(): Promise<EngineSession> {
  plainSession ??= fx
    .weights('unet')
    .then((w) =>
      fx.open(
        buildUnetGraph(fx.checkpoint.config, w, { batch: B, height: H, width: H }).builder.graph,
        'unet-plain',
      ),
    );
  return plainSession;
}
afterAll(async () => {
  await fx?.close();
});

function inputs(contextDim: number) {
  return {
    sample: signal(B * 4 * H * H, 1),
    timestep: new Float32Array([999, 261]),
    context: signal(B * L * contextDim, 2),
  };
}

function feeds(x: ReturnType<typeof inputs>, contextDim: number) {
  return {
    sample: { dtype: 'float32' as const, shape: [B, 4, H, H], data: x.sample },
    timestep: { dtype: 'float32' as const, shape: [B], data: x.timestep },
    encoder_hidden_states: { dtype: 'float32' as const, shape: [B, L, contextDim], data: x.context },
  };
}

describe('SD1 UNet graph', () => {
  it('lists the 16 transformer blocks and 32 / 64 K/V weights of SD1 (SD1_SPEC §2.3)', () => {
    const blocks = unetTransformerModules(SD1_CONFIG.unet);
    expect(blocks.map((b) => b.module)).toEqual([
      'input_blocks.1.1',
      'input_blocks.2.1',
      'input_blocks.4.1',
      'input_blocks.5.1',
      'input_blocks.7.1',
      'input_blocks.8.1',
      'middle_block.1',
      'output_blocks.3.1',
      'output_blocks.4.1',
      'output_blocks.5.1',
      'output_blocks.6.1',
      'output_blocks.7.1',
      'output_blocks.8.1',
      'output_blocks.9.1',
      'output_blocks.10.1',
      'output_blocks.11.1',
    ]);
    expect(blocks.map((b) => b.channels)).toEqual([
      320, 320, 640, 640, 1280, 1280, 1280, 1280, 1280, 1280, 640, 640, 640, 320, 320, 320,
    ]);
    const cross = kvWeights(SD1_CONFIG.unet, 'cross-attention');
    const all = kvWeights(SD1_CONFIG.unet, 'all');
    expect(cross).toHaveLength(32);
    expect(all).toHaveLength(64);
    const params = (list: typeof all) => list.reduce((s, w) => s + w.shape[0] * w.shape[1], 0);
    expect(params(cross)).toBe(19_169_280);
    expect(params(all)).toBe(43_950_080);
    expect(cross[0].key).toBe(
      'model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight',
    );
    expect(cross.every((w) => inKvScope(w.key, 'cross-attention'))).toBe(true);
    expect(all.filter((w) => !inKvScope(w.key, 'cross-attention')).every((w) => w.attn === 'attn1')).toBe(
      true,
    );
  });

  it('matches a plain-TypeScript forward pass of the whole UNet to 1e-4 (batch 2, 8×8 latents)', async () => {
    const u = fx.checkpoint.config.unet;
    const weights = await fx.weights('unet');
    const session = await plainUnet();
    const x = inputs(u.contextDim);
    const out = await session.run(feeds(x, u.contextDim));
    const eps = out[UNET_OUTPUT];
    expect(eps.shape).toEqual([B, 4, H, H]);
    expect(allFinite(eps.data as Float32Array)).toBe(true);
    const spec = { prefix: 'model.diffusion_model.', ...u, groups: u.normGroups };
    const W = refWeights(weights);
    const n = 4 * H * H;
    for (let b = 0; b < B; b++) {
      const ref = unetForward(
        W,
        spec,
        { c: 4, h: H, w: H, d: Float64Array.from(x.sample.subarray(b * n, (b + 1) * n)) },
        x.timestep[b],
        {
          n: L,
          c: u.contextDim,
          d: Float64Array.from(x.context.subarray(b * L * u.contextDim, (b + 1) * L * u.contextDim)),
        },
      );
      expect(maxAbsDiff((eps.data as Float32Array).subarray(b * n, (b + 1) * n), ref.d)).toBeLessThan(1e-4);
    }
  });

  // Non-64 image sizes (ComfyUI takes any multiple of 8): the down path halves with ⌈n/2⌉, the up path
  // resizes to each skip's size (12 → 6 → 3 → 2 and back 2 → 3 → 6 → 12; 9 → 5 → 3 → 2 and back).
  for (const [hh, ww, px] of [
    [12, 8, '96×64'],
    [9, 5, '72×40'],
  ] as const) {
    it(`matches the plain-TypeScript UNet at ${hh}×${ww} latents (${px} px images)`, async () => {
      const u = fx.checkpoint.config.unet;
      const weights = await fx.weights('unet');
      const { builder } = buildUnetGraph(fx.checkpoint.config, weights, { batch: 1, height: hh, width: ww });
      const session = await fx.open(builder.graph, `unet-${hh}x${ww}`);
      const sample = signal(4 * hh * ww, 3);
      const context = signal(L * u.contextDim, 4);
      const out = await session.run({
        sample: { dtype: 'float32', shape: [1, 4, hh, ww], data: sample },
        timestep: { dtype: 'float32', shape: [1], data: new Float32Array([500]) },
        encoder_hidden_states: { dtype: 'float32', shape: [1, L, u.contextDim], data: context },
      });
      const eps = out[UNET_OUTPUT];
      expect(eps.shape).toEqual([1, 4, hh, ww]);
      const ref = unetForward(
        refWeights(weights),
        { prefix: 'model.diffusion_model.', ...u, groups: u.normGroups },
        { c: 4, h: hh, w: ww, d: Float64Array.from(sample) },
        500,
        { n: L, c: u.contextDim, d: Float64Array.from(context) },
      );
      expect(maxAbsDiff(eps.data as Float32Array, ref.d)).toBeLessThan(1e-4);
    });
  }

  it('a size-agnostic UNet built at one size runs every batch, latent size and context length, equal to the per-size graph', async () => {
    const u = fx.checkpoint.config.unet;
    const weights = await fx.weights('unet');
    const built = buildUnetGraph(fx.checkpoint.config, weights, {
      batch: 1,
      height: 8,
      width: 8,
      sizeAgnostic: true,
    });
    // Built elsewhere, the graph is the same node for node: nothing in it depends on the size.
    const other = buildUnetGraph(fx.checkpoint.config, weights, {
      batch: 3,
      height: 9,
      width: 5,
      contextLength: 154,
      sizeAgnostic: true,
    });
    const nodes = (g: typeof built.builder.graph) =>
      JSON.stringify(g.nodes.map((n) => [n.op, n.inputs, n.outputs, n.attrs]));
    expect(nodes(other.builder.graph)).toBe(nodes(built.builder.graph));
    const dynamic = await fx.open(built.builder.graph, 'unet-size-agnostic');
    expect(dynamic.inputNames).toContain('sample');
    for (const [batch, hh, ww, len] of [
      [1, 8, 8, 77],
      [2, 12, 8, 77],
      [1, 9, 5, 154],
      [2, 16, 16, 77],
    ] as const) {
      const sample = signal(batch * 4 * hh * ww, 3);
      const context = signal(batch * len * u.contextDim, 4);
      const f = {
        sample: { dtype: 'float32' as const, shape: [batch, 4, hh, ww], data: sample },
        timestep: { dtype: 'float32' as const, shape: [batch], data: new Float32Array(batch).fill(500) },
        encoder_hidden_states: {
          dtype: 'float32' as const,
          shape: [batch, len, u.contextDim],
          data: context,
        },
      };
      const fixed = await fx.open(
        buildUnetGraph(fx.checkpoint.config, weights, { batch, height: hh, width: ww, contextLength: len })
          .builder.graph,
        `unet-fixed-${batch}-${hh}x${ww}-${len}`,
      );
      const want = (await fixed.run(f))[UNET_OUTPUT];
      const got = (await dynamic.run(f))[UNET_OUTPUT];
      expect(got.shape).toEqual([batch, 4, hh, ww]);
      expect(maxAbsDiff(got.data as Float32Array, want.data as Float32Array)).toBeLessThan(1e-5);
      await fixed.release();
    }
  });

  it('attention chunking picks the fewest query chunks that divide N and fit the budget', () => {
    // SD1 level 0 at 64² latents, batch 4, fp32: 2 GiB per map → 4 chunks of 512 MiB.
    expect(attentionChunks(4, 8, 4096, 4096, 4, 512 * 2 ** 20)).toBe(4);
    expect(attentionChunks(4, 8, 4096, 77, 4, 512 * 2 ** 20)).toBe(1);
    expect(attentionChunks(1, 2, 64, 77, 4, 16384)).toBe(4);
    expect(attentionChunks(1, 1, 6, 6, 4, 50)).toBe(3);
    expect(attentionChunks(1, 1, 7, 7, 4, 50)).toBe(7);
    expect(attentionChunks(4, 8, 4096, 4096, 4, 0)).toBe(1);
  });

  it('builds the real SD1-width UNet (686 weights, 64 K/V mask inputs, 64×64 latents) with the shapes of SD1_SPEC §1.8', () => {
    // Shape-checked build only: every weight is a view of one zero buffer, nothing is run.
    const shared = new Float32Array(2560 * 1280 * 9);
    const weights = new Map<string, WeightTensor>();
    for (const [key, shape] of unetShapes(SD1_CONFIG.unet)) {
      weights.set(key, {
        data: shared.subarray(
          0,
          shape.reduce((a, b) => a * b, 1),
        ),
        shape,
        dtype: 'float32',
      });
    }
    const { builder, kvKeys } = buildUnetGraph(SD1_CONFIG, weights, {
      batch: 2,
      height: 64,
      width: 64,
      kvMode: 'all',
    });
    const g = builder.graph;
    expect([...g.initializers.keys()].filter((n) => !n.startsWith('const.'))).toHaveLength(686);
    expect(kvKeys).toHaveLength(64);
    expect(g.inputs).toHaveLength(3 + 64);
    expect(g.value(UNET_OUTPUT).shape).toEqual([2, 4, 64, 64]);
    const probs = (module: string) =>
      g.value(`model.diffusion_model.${module}.transformer_blocks.0.attn1.probs`).shape;
    expect(probs('input_blocks.1.1')).toEqual([2, 8, 4096, 4096]);
    expect(probs('middle_block.1')).toEqual([2, 8, 64, 64]);
    expect(g.value('model.diffusion_model.output_blocks.5.1.transformer_blocks.0.attn2.probs').shape).toEqual(
      [2, 8, 256, 77],
    );
  });

  it('names every weight initializer by its canonical checkpoint key', async () => {
    const weights = await fx.weights('unet');
    const { builder } = buildUnetGraph(fx.checkpoint.config, weights, { batch: 1, height: H, width: H });
    const names = [...builder.graph.initializers.keys()].filter((n) => !n.startsWith('const.'));
    expect(new Set(names)).toEqual(new Set(fx.checkpoint.keysOf('unet')));
  });

  it('a K/V mask input that zeroes weights equals a graph whose weights were zeroed at build time (Apply Concept Mask)', async () => {
    const config = fx.checkpoint.config;
    const weights = await fx.weights('unet');
    const masked = buildUnetGraph(config, weights, { batch: B, height: H, width: H, kvMode: 'all' });
    expect(masked.kvKeys).toHaveLength(64);
    expect(masked.builder.graph.inputs).toContain(kvInputName(masked.kvKeys[0]));
    const maskedSession = await fx.open(masked.builder.graph, 'unet-kv-all');

    // Concept neurons: a sparse set of entries in one attn1 and two attn2 K/V weights.
    const chosen = [masked.kvKeys[0], masked.kvKeys[3], masked.kvKeys[masked.kvKeys.length - 1]];
    const masks = new Map<string, Float32Array>();
    const zeroedWeights = new Map<string, WeightTensor>(weights);
    chosen.forEach((key, j) => {
      const w = weights.get(key)!;
      const mask = new Float32Array(w.data!.length).fill(1);
      const zeroed = Float32Array.from(w.data as Float32Array);
      for (let i = j; i < mask.length; i += 5) {
        mask[i] = 0;
        zeroed[i] = 0;
      }
      masks.set(key, mask);
      zeroedWeights.set(key, { ...w, data: zeroed });
    });
    const zeroGraph = buildUnetGraph(config, zeroedWeights as Weights, { batch: B, height: H, width: H });
    const zeroSession = await fx.open(zeroGraph.builder.graph, 'unet-zeroed');
    const plain = await plainUnet();

    const x = inputs(config.unet.contextDim);
    const base = feeds(x, config.unet.contextDim);
    const maskFeeds = (m: Map<string, Float32Array>) =>
      Object.fromEntries(
        masked.kvKeys.map((key) => {
          const w = weights.get(key)!;
          return [
            kvInputName(key),
            {
              dtype: 'float32' as const,
              shape: [...w.shape],
              data: m.get(key) ?? new Float32Array(w.data!.length).fill(1),
            },
          ];
        }),
      );
    const withMask = (await maskedSession.run({ ...base, ...maskFeeds(masks) }))[UNET_OUTPUT]
      .data as Float32Array;
    const withOnes = (await maskedSession.run({ ...base, ...maskFeeds(new Map()) }))[UNET_OUTPUT]
      .data as Float32Array;
    const zeroedAtBuild = (await zeroSession.run(base))[UNET_OUTPUT].data as Float32Array;
    const original = (await plain.run(base))[UNET_OUTPUT].data as Float32Array;

    expect(maxAbsDiff(withOnes, original)).toBeLessThan(1e-6);
    expect(maxAbsDiff(withMask, original)).toBeGreaterThan(1e-3);
    expect(maxAbsDiff(withMask, zeroedAtBuild)).toBeLessThan(1e-6);
  });

  it('float16 weights (read as fp16, never widened) give the float32 result to fp16 precision', async () => {
    const config = fx.checkpoint.config;
    const w16 = await fx.weights('unet', 'float16');
    const anyKey = fx.checkpoint.keysOf('unet')[0];
    expect(w16.get(anyKey)!.data).toBeInstanceOf(Uint16Array);
    const g16 = buildUnetGraph(config, w16, {
      batch: B,
      height: H,
      width: H,
      dtype: 'float16',
      kvMode: 'cross-attention',
    }).builder.graph;
    // Softmax and GroupNorm statistics run in float32 (SD1_SPEC §1.9); weights stay float16.
    for (const n of g16.nodes.filter((n) => n.op === 'Softmax' || n.op === 'InstanceNormalization')) {
      expect(g16.value(n.outputs[0]).dtype).toBe('float32');
    }
    expect(g16.initializers.get(anyKey)!.dtype).toBe('float16');
    const s16 = await fx.open(g16, 'unet-f16');
    const s32 = await plainUnet();
    const x = inputs(config.unet.contextDim);
    const masks = Object.fromEntries(
      kvWeights(config.unet, 'cross-attention').map((w) => [
        kvInputName(w.key),
        {
          dtype: 'float16' as const,
          shape: w.shape,
          data: new Uint16Array(w.shape[0] * w.shape[1]).fill(0x3c00),
        },
      ]),
    );
    const y16 = (await s16.run({ ...feeds(x, config.unet.contextDim), ...masks }))[UNET_OUTPUT];
    expect(y16.dtype).toBe('float32');
    const y32 = (await s32.run(feeds(x, config.unet.contextDim)))[UNET_OUTPUT].data as Float32Array;
    const scale = Math.max(...Array.from(y32, Math.abs));
    expect(maxAbsDiff(y16.data as Float32Array, y32) / scale).toBeLessThan(2e-2);
    expect(float16ToFloat32(new Uint16Array([0x3c00]))[0]).toBe(1);
  });

  it('query-chunked attention (attentionMapBudget) gives the unchunked output', async () => {
    const config = fx.checkpoint.config;
    const weights = await fx.weights('unet');
    const plain = await plainUnet();
    const chunked = await fx.open(
      buildUnetGraph(config, weights, { batch: B, height: H, width: H, attentionMapBudget: 16384 }).builder
        .graph,
      'unet-chunked',
    );
    const f = feeds(inputs(config.unet.contextDim), config.unet.contextDim);
    const y0 = (await plain.run(f))[UNET_OUTPUT].data as Float32Array;
    const y1 = (await chunked.run(f))[UNET_OUTPUT].data as Float32Array;
    expect(maxAbsDiff(y0, y1)).toBeLessThan(1e-5);
  });

  it('refuses latent sizes that are not positive integers', async () => {
    const weights = await fx.weights('unet');
    const build = (height: number, width: number) =>
      buildUnetGraph(fx.checkpoint.config, weights, { batch: 1, height, width });
    expect(() => build(0, 8)).toThrow(/latent height must be a positive integer/);
    expect(() => build(8, 2.5)).toThrow(/latent width must be a positive integer/);
  });
});
