import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EngineSession, lowerForFloat64, type TensorValue } from '../../../src/onnx/index.js';
import { kvGradName, kvInputName, kvWeights } from '../../../src/sd/graphs/kv.js';
import {
  buildTrainingGraph,
  DEFAULT_TRAINING_ACTIVATION_BUDGET,
  TRAINING_LOSS,
  trainingActivationBytes,
  trainingSamplesPerRun,
} from '../../../src/sd/graphs/training.js';
import { buildUnetGraph, UNET_OUTPUT } from '../../../src/sd/graphs/unet.js';
import { maxAbsDiff, signal, type TinyFixture, tinyFixture } from './fixtures.js';

const B = 2;
const H = 8;
const L = 77;

let fx: TinyFixture;
beforeAll(async () => {
  fx = await tinyFixture();
});
afterAll(async () => {
  await fx?.close();
});

/** Fixed training inputs; ξ = 1 except a few entries (a mid-extraction state). */
function trainingFeeds(dtype: 'float32' | 'float64', keys: string[], shapes: Map<string, readonly number[]>) {
  const A = dtype === 'float64' ? Float64Array : Float32Array;
  const ab = [0.81, 0.16];
  const contextDim = fx.checkpoint.config.unet.contextDim;
  const feeds: Record<string, TensorValue> = {
    latents: { dtype, shape: [B, 4, H, H], data: A.from(signal(B * 4 * H * H, 11)) },
    noise: { dtype, shape: [B, 4, H, H], data: A.from(signal(B * 4 * H * H, 12)) },
    timestep: { dtype, shape: [B], data: A.from([100, 700]) },
    encoder_hidden_states: { dtype, shape: [B, L, contextDim], data: A.from(signal(B * L * contextDim, 13)) },
    loss_weight: { dtype, shape: [B], data: A.from([1, 0.5]) },
    sqrt_alpha_bar: { dtype, shape: [B], data: A.from(ab.map(Math.sqrt)) },
    sqrt_one_minus_alpha_bar: { dtype, shape: [B], data: A.from(ab.map((a) => Math.sqrt(1 - a))) },
  };
  for (const key of keys) {
    const shape = shapes.get(key)!;
    const xi = new A(shape[0] * shape[1]).fill(1);
    for (let i = 3; i < xi.length; i += 17) xi[i] = 0.9;
    feeds[kvInputName(key)] = { dtype, shape, data: xi };
  }
  return feeds;
}

async function loss(session: EngineSession, feeds: Record<string, TensorValue>): Promise<number> {
  return Number((await session.run(feeds, [TRAINING_LOSS]))[TRAINING_LOSS].data[0]);
}

describe('Cones training graph (loss and ∂loss/∂ξ)', () => {
  const shapesOf = () => new Map(kvWeights(fx.checkpoint.config.unet, 'all').map((w) => [w.key, w.shape]));
  let f64: { session: EngineSession; keys: string[] };
  let f32: { session: EngineSession; keys: string[] };

  beforeAll(async () => {
    const config = fx.checkpoint.config;
    const g64 = buildTrainingGraph(config, await fx.weights('unet', 'float64'), {
      batch: B,
      height: H,
      width: H,
      scope: 'all',
      dtype: 'float64',
    });
    f64 = {
      session: await fx.open(lowerForFloat64(g64.builder.graph), 'train-f64', { optimization: 'basic' }),
      keys: g64.kvKeys,
    };
    const g32 = buildTrainingGraph(config, await fx.weights('unet'), {
      batch: B,
      height: H,
      width: H,
      scope: 'all',
    });
    f32 = { session: await fx.open(g32.builder.graph, 'train-f32'), keys: g32.kvKeys };
  });

  it('gradients equal float64 central finite differences (h = 1e-4) to 1e-6 of the tensor’s largest gradient', async () => {
    const feeds = trainingFeeds('float64', f64.keys, shapesOf());
    const out = await f64.session.run(feeds);
    // First self-attention K, a mid-network cross-attention V, the last cross-attention K.
    const picks = [f64.keys[0], f64.keys[Math.floor(f64.keys.length / 2) + 1], f64.keys[f64.keys.length - 2]];
    const h = 1e-4;
    for (const key of picks) {
      const g = out[kvGradName(key)].data as Float64Array;
      const gmax = Math.max(...Array.from(g, Math.abs));
      expect(gmax).toBeGreaterThan(0);
      const top = Array.from(g, Math.abs).indexOf(gmax);
      for (const i of [top, 3]) {
        const xi = feeds[kvInputName(key)].data as Float64Array;
        const saved = xi[i];
        xi[i] = saved + h;
        const up = await loss(f64.session, feeds);
        xi[i] = saved - h;
        const down = await loss(f64.session, feeds);
        xi[i] = saved;
        const fd = (up - down) / (2 * h);
        expect(Math.abs(g[i] - fd)).toBeLessThan(1e-6 * gmax);
      }
    }
  });

  it('float32 graph (real op set: Conv, ConvTranspose, InstanceNorm, Erf) gives the float64 loss and gradients to 1e-4', async () => {
    const o64 = await f64.session.run(trainingFeeds('float64', f64.keys, shapesOf()));
    const o32 = await f32.session.run(trainingFeeds('float32', f32.keys, shapesOf()));
    const l64 = Number(o64[TRAINING_LOSS].data[0]);
    expect(Math.abs(Number(o32[TRAINING_LOSS].data[0]) - l64) / l64).toBeLessThan(1e-5);
    const largest = (g: ArrayLike<number>) => Math.max(...Array.from(g, Math.abs));
    const overall = Math.max(...f32.keys.map((key) => largest(o64[kvGradName(key)].data as Float64Array)));
    for (const key of f32.keys) {
      const g64 = o64[kvGradName(key)].data as Float64Array;
      const g32 = o32[kvGradName(key)].data as Float32Array;
      // A self-attention over a single token (the 1×1 mid block of an 8×8 latent) has ∂/∂K = 0 exactly.
      const scale = largest(g64) > 0 ? largest(g64) : overall;
      expect(maxAbsDiff(g32, g64) / scale).toBeLessThan(1e-4);
    }
  });

  it('loss = Σ_b w_b · mean((ε̂_b − ε_b)²) with ε̂ from the inference UNet graph at x_t = √ᾱ·x0 + √(1−ᾱ)·ε and masks = ξ', async () => {
    const config = fx.checkpoint.config;
    const feeds = trainingFeeds('float32', f32.keys, shapesOf());
    const trained = await loss(f32.session, feeds);
    const unet = buildUnetGraph(config, await fx.weights('unet'), {
      batch: B,
      height: H,
      width: H,
      kvMode: 'all',
    });
    const session = await fx.open(unet.builder.graph, 'unet-for-loss');
    const x0 = feeds.latents.data as Float32Array;
    const eps = feeds.noise.data as Float32Array;
    const sa = feeds.sqrt_alpha_bar.data as Float32Array;
    const sb = feeds.sqrt_one_minus_alpha_bar.data as Float32Array;
    const n = 4 * H * H;
    const xt = Float32Array.from(x0, (v, i) => sa[Math.floor(i / n)] * v + sb[Math.floor(i / n)] * eps[i]);
    const unetFeeds: Record<string, TensorValue> = {
      sample: { dtype: 'float32', shape: [B, 4, H, H], data: xt },
      timestep: feeds.timestep,
      encoder_hidden_states: feeds.encoder_hidden_states,
    };
    for (const key of unet.kvKeys) unetFeeds[kvInputName(key)] = feeds[kvInputName(key)];
    const pred = (await session.run(unetFeeds))[UNET_OUTPUT].data as Float32Array;
    const w = feeds.loss_weight.data as Float32Array;
    let expected = 0;
    for (let b = 0; b < B; b++) {
      let s = 0;
      for (let i = b * n; i < (b + 1) * n; i++) s += (pred[i] - eps[i]) ** 2;
      expected += (w[b] * s) / n;
    }
    expect(Math.abs(trained - expected) / expected).toBeLessThan(1e-5);
  });

  it('keeps no self-attention probabilities for the backward: each attn1 softmax output is read only inside its recompute segment', async () => {
    const g = buildTrainingGraph(fx.checkpoint.config, await fx.weights('unet'), {
      batch: 1,
      height: H,
      width: H,
      scope: 'all',
    }).builder.graph;
    const softmaxes = g.nodes.filter((n) => n.op === 'Softmax' && n.segment !== undefined);
    expect(softmaxes).toHaveLength(16);
    expect(softmaxes.every((n) => n.outputs[0].includes('.attn1.'))).toBe(true);
    for (const sm of softmaxes) {
      const readers = g.nodes.filter((n) => n.inputs.includes(sm.outputs[0]));
      expect(readers.length).toBeGreaterThan(0);
      expect(readers.every((n) => n.segment === sm.segment)).toBe(true);
    }
    // …and the backward re-derives each of them (the cross-attention softmaxes are plain forward nodes).
    const recomputed = g.nodes.filter((n) => n.op === 'Softmax' && n.outputs[0].includes('.recomputed'));
    expect(recomputed).toHaveLength(16);
  });

  it('splitting attention query axes to fit a map budget changes neither the loss nor the gradients', async () => {
    const config = fx.checkpoint.config;
    // 8×8 latent, batch 2, 2 heads: the 64×64 self-attention map is 64 KiB; 16 KiB forces 4 query chunks.
    const chunked = buildTrainingGraph(config, await fx.weights('unet'), {
      batch: B,
      height: H,
      width: H,
      scope: 'all',
      attentionMapBudget: 16384,
    });
    expect(
      chunked.builder.graph.nodes.filter((n) => n.op === 'Softmax' && n.segment !== undefined).length,
    ).toBeGreaterThan(16);
    const session = await fx.open(chunked.builder.graph, 'train-chunked');
    const feeds = trainingFeeds('float32', f32.keys, shapesOf());
    const a = await session.run(feeds);
    const ref = await f32.session.run(feeds);
    const l = Number(ref[TRAINING_LOSS].data[0]);
    expect(Math.abs(Number(a[TRAINING_LOSS].data[0]) - l) / l).toBeLessThan(1e-6);
    for (const key of f32.keys) {
      const g = ref[kvGradName(key)].data as Float32Array;
      const scale = Math.max(1e-30, ...Array.from(g, Math.abs));
      expect(maxAbsDiff(a[kvGradName(key)].data as Float32Array, g) / scale).toBeLessThan(1e-5);
    }
  });

  it('differentiates through the up path at a non-64 image size (latent 6×5 → 3×3 → 2×2 → 1×1 and back by nearest-to-size)', async () => {
    const config = fx.checkpoint.config;
    const [hh, ww] = [6, 5];
    const g = buildTrainingGraph(config, await fx.weights('unet', 'float64'), {
      batch: 1,
      height: hh,
      width: ww,
      scope: 'cross-attention',
      dtype: 'float64',
    });
    expect(g.builder.graph.nodes.some((n) => n.op === 'Gather')).toBe(true);
    const session = await fx.open(lowerForFloat64(g.builder.graph), 'train-f64-6x5', {
      optimization: 'basic',
    });
    const contextDim = config.unet.contextDim;
    const n = 4 * hh * ww;
    const f64 = (shape: number[], data: ArrayLike<number>): TensorValue => ({
      dtype: 'float64',
      shape,
      data: Float64Array.from(data),
    });
    const feeds: Record<string, TensorValue> = {
      latents: f64([1, 4, hh, ww], signal(n, 21)),
      noise: f64([1, 4, hh, ww], signal(n, 22)),
      timestep: f64([1], [400]),
      encoder_hidden_states: f64([1, L, contextDim], signal(L * contextDim, 23)),
      loss_weight: f64([1], [1]),
      sqrt_alpha_bar: f64([1], [Math.sqrt(0.5)]),
      sqrt_one_minus_alpha_bar: f64([1], [Math.sqrt(0.5)]),
    };
    const shapes = shapesOf();
    for (const key of g.kvKeys) {
      const shape = [...shapes.get(key)!];
      feeds[kvInputName(key)] = f64(shape, new Float64Array(shape[0] * shape[1]).fill(1));
    }
    const out = await session.run(feeds);
    // The first cross-attention K sits before every upsample: its gradient crosses all of them.
    const key = g.kvKeys[0];
    const grad = out[kvGradName(key)].data as Float64Array;
    const gmax = Math.max(...Array.from(grad, Math.abs));
    expect(gmax).toBeGreaterThan(0);
    const h = 1e-4;
    for (const i of [Array.from(grad, Math.abs).indexOf(gmax), 5]) {
      const xi = feeds[kvInputName(key)].data as Float64Array;
      xi[i] = 1 + h;
      const up = await loss(session, feeds);
      xi[i] = 1 - h;
      const down = await loss(session, feeds);
      xi[i] = 1;
      expect(Math.abs(grad[i] - (up - down) / (2 * h))).toBeLessThan(1e-6 * gmax);
    }
  });

  it("scope 'cross-attention' takes and differentiates only the attn2 K/V weights", async () => {
    const config = fx.checkpoint.config;
    const g = buildTrainingGraph(config, await fx.weights('unet'), {
      batch: 1,
      height: H,
      width: H,
      scope: 'cross-attention',
    });
    expect(g.kvKeys).toHaveLength(32);
    expect(g.kvKeys.every((k) => /\.attn2\.to_[kv]\.weight$/.test(k))).toBe(true);
    const xiInputs = g.builder.graph.inputs.filter((n) => n.startsWith('xi:'));
    const gradOutputs = g.builder.graph.outputs.filter((n) => n.startsWith('grad:'));
    expect(xiInputs).toEqual(g.kvKeys.map(kvInputName));
    expect(gradOutputs).toEqual(g.kvKeys.map(kvGradName));
    expect(g.builder.graph.outputs.some((n) => n.includes('attn1'))).toBe(false);
    // Nothing upstream of the first cross-attention is differentiated: no ConvTranspose for conv_in.
    const convIn = 'model.diffusion_model.input_blocks.0.0.weight';
    expect(g.builder.graph.nodes.some((n) => n.op === 'ConvTranspose' && n.inputs.includes(convIn))).toBe(
      false,
    );
  });
});

describe('trainingSamplesPerRun: how many samples one training run takes', () => {
  it('keeps a batch whole while its estimated activations fit the budget and splits it into equal runs when not', () => {
    // SD width (320 channels): 2 + 2 samples at 256 px fit the default 2 GiB; at 512 px they run one by one.
    expect(trainingSamplesPerRun(320, 4, 32, 32)).toBe(4);
    expect(trainingSamplesPerRun(320, 4, 64, 64)).toBe(1);
    expect(trainingSamplesPerRun(320, 2, 64, 64)).toBe(1);
    // the largest divisor that fits: 6 samples at 256 px as two runs of 3
    expect(trainingSamplesPerRun(320, 6, 32, 32)).toBe(3);
    expect(trainingSamplesPerRun(320, 1, 128, 128)).toBe(1);
    // the tiny test model never splits at its sizes; a smaller budget splits sooner, a larger one later
    expect(trainingSamplesPerRun(32, 8, 64, 64)).toBe(8);
    expect(trainingSamplesPerRun(320, 4, 32, 32, 1 * 2 ** 30)).toBe(2);
    expect(trainingSamplesPerRun(320, 4, 64, 64, 4 * 2 ** 30)).toBe(2);
    // the estimate is linear in samples, latent pixels and channels (0.46 GiB per 1,024 sample-pixels at 320)
    expect(trainingActivationBytes(320, 4, 64, 64) / 2 ** 30).toBeCloseTo(7.36, 2);
    expect(trainingActivationBytes(160, 8, 64, 64)).toBe(trainingActivationBytes(320, 4, 64, 64));
    expect(DEFAULT_TRAINING_ACTIVATION_BUDGET).toBe(2 * 2 ** 30);
  });
});
