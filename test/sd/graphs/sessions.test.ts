import { readdirSync, readFileSync, statSync, utimesSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kvGradName, kvInputName } from '../../../src/sd/graphs/kv.js';
import { loadSd1Sessions, type Sd1Sessions } from '../../../src/sd/graphs/sessions.js';
import { buildTrainingGraph, TRAINING_LOSS } from '../../../src/sd/graphs/training.js';
import { buildUnetGraph, UNET_OUTPUT } from '../../../src/sd/graphs/unet.js';
import { allFinite, maxAbsDiff, signal, type TinyFixture, tinyFixture } from './fixtures.js';

let fx: TinyFixture;
let sessions: Sd1Sessions;
beforeAll(async () => {
  fx = await tinyFixture();
  sessions = loadSd1Sessions(fx.checkpoint, join(fx.dir, 'graph-cache'), {
    session: { executionProvider: 'cpu', threads: 2 },
  });
});
afterAll(async () => {
  await sessions?.release();
  await fx?.close();
});

describe('loadSd1Sessions: graphs built once, cached on disk, run through typed-array runners', () => {
  it('builds a UNet graph on first use, reuses the runner, and a second service instance loads it from the cache', async () => {
    const shape = { batch: 1, height: 8, width: 8, kvMode: 'cross-attention' as const };
    const first = await sessions.unet(shape);
    expect(first.built).toBe(true);
    expect(await sessions.unet(shape)).toBe(first);
    const D = fx.checkpoint.config.unet.contextDim;
    const inputs = {
      sample: signal(4 * 64, 1),
      timestep: new Float32Array([500]),
      context: signal(77 * D, 2),
    };
    const eps = await first.run(inputs);
    expect(eps).toHaveLength(4 * 64);
    expect(allFinite(eps)).toBe(true);

    const text = await sessions.textEncoder({ batch: 1 });
    const ids = Int32Array.from([49406, 320, 2368, 49407, ...new Array(73).fill(49407)]);
    const hidden = await text.run(ids);

    // The second instance opens ORT's optimized copies the first saved in the entries
    // (src/onnx/optimized-copy.ts), with the same outputs bit for bit.
    for (const runner of [first, text])
      expect(readdirSync(dirname(runner.modelPath)).some((n) => n.startsWith('ort-optimized-'))).toBe(true);
    const other = loadSd1Sessions(fx.checkpoint, join(fx.dir, 'graph-cache'), {
      session: { executionProvider: 'cpu', threads: 2 },
    });
    try {
      const again = await other.unet(shape);
      expect(again.built).toBe(false);
      expect(again.modelPath).toBe(first.modelPath);
      expect(maxAbsDiff(await again.run(inputs), eps)).toBe(0);
      expect(maxAbsDiff(await (await other.textEncoder({ batch: 1 })).run(ids), hidden)).toBe(0);
    } finally {
      await other.release();
    }
  });

  it('one UNet / VAE graph and session serve every batch and size: a new size opens nothing', async () => {
    const D = fx.checkpoint.config.unet.contextDim;
    const small = await sessions.unet({ batch: 1, height: 8, width: 8 });
    const other = await sessions.unet({ batch: 2, height: 12, width: 6 });
    expect(other).not.toBe(small);
    expect(other.session).toBe(small.session);
    expect(other.modelPath).toBe(small.modelPath);
    const eps = await other.run({
      sample: signal(2 * 4 * 12 * 6, 1),
      timestep: new Float32Array([500, 20]),
      context: signal(2 * 77 * D, 2),
    });
    expect(eps).toHaveLength(2 * 4 * 12 * 6);
    expect(allFinite(eps)).toBe(true);
    // Plain and masked sampling share the graph too: it takes a mask for every K/V weight.
    const masked = await sessions.unet({ batch: 1, height: 8, width: 8, kvMode: 'cross-attention' });
    expect(masked.session).toBe(small.session);
    expect(masked.kvKeys).toHaveLength(32);
    expect(small.kvKeys).toEqual([]);

    // Built from the weight folder (never loaded into memory), equal to a graph on in-memory weights.
    const fixed = await fx.open(
      buildUnetGraph(fx.checkpoint.config, await fx.weights('unet'), { batch: 2, height: 12, width: 6 })
        .builder.graph,
      'unet-in-memory',
    );
    const want = (
      await fixed.run({
        sample: { dtype: 'float32', shape: [2, 4, 12, 6], data: signal(2 * 4 * 12 * 6, 1) },
        timestep: { dtype: 'float32', shape: [2], data: new Float32Array([500, 20]) },
        encoder_hidden_states: { dtype: 'float32', shape: [2, 77, D], data: signal(2 * 77 * D, 2) },
      })
    )[UNET_OUTPUT].data as Float32Array;
    expect(maxAbsDiff(eps, want)).toBeLessThan(1e-5);
    // The UNet and training graphs reference one weight file on disk (hard links to the part's weight folder).
    const train = await sessions.training({ batch: 1, height: 8, width: 8, scope: 'cross-attention' });
    const shared = (modelPath: string) =>
      readdirSync(dirname(modelPath))
        .filter((f) => f.includes('.shared.'))
        .map((f) => statSync(join(dirname(modelPath), f)).ino);
    expect(shared(small.modelPath)).toHaveLength(1);
    expect(shared(train.modelPath)).toEqual(shared(small.modelPath));

    const dec = await sessions.vaeDecoder({ batch: 1, height: 2, width: 2 });
    const dec2 = await sessions.vaeDecoder({ batch: 1, height: 3, width: 5 });
    expect(dec2.session).toBe(dec.session);
    expect(await dec2.run(signal(4 * 15, 3))).toHaveLength(3 * 24 * 40);
  });

  it('graphs on the weight folder (linear weights stored transposed) equal graphs on in-memory weights: masked UNet, training loss and ∂loss/∂ξ', async () => {
    const { config } = fx.checkpoint;
    const D = config.unet.contextDim;
    const weights = await fx.weights('unet');
    const unet = await sessions.unet({ batch: 1, height: 8, width: 8, kvMode: 'all' });
    const key = unet.kvKeys[3];
    const [rows, cols] = fx.checkpoint.shapeOf(key);
    const mask = Float32Array.from({ length: rows * cols }, (_, i) => (i % 3 === 0 ? 0 : 1.5));
    const inputs = {
      sample: signal(4 * 64, 1),
      timestep: new Float32Array([300]),
      context: signal(77 * D, 2),
    };
    const got = await unet.run({ ...inputs, kvMasks: new Map([[key, mask]]) });
    const plain = buildUnetGraph(config, weights, { batch: 1, height: 8, width: 8, kvMode: 'all' });
    const ref = await fx.open(plain.builder.graph, 'unet-all-in-memory');
    const feeds: Record<string, { dtype: 'float32'; shape: number[]; data: Float32Array }> = {
      sample: { dtype: 'float32', shape: [1, 4, 8, 8], data: inputs.sample },
      timestep: { dtype: 'float32', shape: [1], data: inputs.timestep },
      encoder_hidden_states: { dtype: 'float32', shape: [1, 77, D], data: inputs.context },
    };
    for (const k of plain.kvKeys) {
      const [r, c] = fx.checkpoint.shapeOf(k);
      feeds[kvInputName(k)] = {
        dtype: 'float32',
        shape: [r, c],
        data: k === key ? mask : new Float32Array(r * c).fill(1),
      };
    }
    const want = (await ref.run(feeds))[UNET_OUTPUT].data as Float32Array;
    expect(maxAbsDiff(got, want)).toBeLessThan(1e-5);
    // The session's graph multiplies the stored transposes (and transposes the masks instead).
    expect(readFileSync(unet.modelPath).includes(`${key}.T`)).toBe(true);

    const shape = { batch: 1, height: 8, width: 8, scope: 'cross-attention' as const };
    const train = await sessions.training(shape);
    const xi = new Map(
      train.kvKeys.map((k, i) => {
        const [r, c] = fx.checkpoint.shapeOf(k);
        return [k, Float32Array.from({ length: r * c }, (_, j) => 1 + 0.1 * Math.sin(i + j))] as const;
      }),
    );
    const step = {
      latents: signal(4 * 64, 4),
      noise: signal(4 * 64, 5),
      timestep: new Float32Array([400]),
      context: signal(77 * D, 6),
      lossWeight: new Float32Array([1]),
      sqrtAlphaBar: new Float32Array([0.8]),
      sqrtOneMinusAlphaBar: new Float32Array([0.6]),
    };
    const a = await train.run({ ...step, xi });
    const built = buildTrainingGraph(config, weights, shape);
    const refTrain = await fx.open(built.builder.graph, 'train-in-memory');
    const v = (data: Float32Array, s: number[]) => ({ dtype: 'float32' as const, shape: s, data });
    const tf: Record<string, ReturnType<typeof v>> = {
      latents: v(step.latents, [1, 4, 8, 8]),
      noise: v(step.noise, [1, 4, 8, 8]),
      timestep: v(step.timestep, [1]),
      encoder_hidden_states: v(step.context, [1, 77, D]),
      loss_weight: v(step.lossWeight, [1]),
      sqrt_alpha_bar: v(step.sqrtAlphaBar, [1]),
      sqrt_one_minus_alpha_bar: v(step.sqrtOneMinusAlphaBar, [1]),
    };
    for (const [k, x] of xi) tf[kvInputName(k)] = v(x, [...fx.checkpoint.shapeOf(k)]);
    const b = await refTrain.run(tf);
    expect(Math.abs(a.loss - Number(b[TRAINING_LOSS].data[0]))).toBeLessThan(1e-5 * Math.abs(a.loss));
    for (const k of train.kvKeys) {
      const g = b[kvGradName(k)].data as Float32Array;
      const scale = Math.max(...Array.from(g, Math.abs));
      expect(maxAbsDiff(a.grads.get(k)!, g)).toBeLessThan(1e-4 * scale + 1e-9);
    }
  });

  it('runs a training batch as several smaller runs (samplesPerRun) whose losses and ∂loss/∂ξ add up to the whole batch', async () => {
    const D = fx.checkpoint.config.unet.contextDim;
    const B = 4;
    const n = 4 * 64;
    const step = {
      latents: signal(B * n, 7),
      noise: signal(B * n, 8),
      timestep: new Float32Array([50, 400, 650, 990]),
      context: signal(B * 77 * D, 9),
      lossWeight: new Float32Array([0.5, 0.5, 0.25, 0.25]),
      sqrtAlphaBar: new Float32Array([0.99, 0.8, 0.5, 0.1]),
      sqrtOneMinusAlphaBar: new Float32Array([0.14, 0.6, 0.87, 0.99]),
    };
    const shape = { batch: B, height: 8, width: 8, scope: 'cross-attention' as const };
    const whole = await sessions.training(shape);
    expect(whole.samplesPerRun).toBe(B); // the tiny model's activations fit the default budget
    const xi = new Map(
      whole.kvKeys.map((k, i) => {
        const [r, c] = fx.checkpoint.shapeOf(k);
        return [k, Float32Array.from({ length: r * c }, (_, j) => 1 - 0.05 * Math.cos(i * 7 + j))] as const;
      }),
    );
    const want = await whole.run({ ...step, xi });
    for (const samplesPerRun of [2, 1]) {
      const split = await sessions.training({ ...shape, samplesPerRun });
      expect(split.samplesPerRun).toBe(samplesPerRun);
      expect(split.modelPath).not.toBe(whole.modelPath); // a graph built at the smaller batch
      const got = await split.run({ ...step, xi });
      expect(Math.abs(got.loss - want.loss)).toBeLessThan(1e-6 * want.loss);
      for (const k of whole.kvKeys) {
        const g = want.grads.get(k)!;
        const scale = Math.max(...Array.from(g, Math.abs));
        expect(maxAbsDiff(got.grads.get(k)!, g)).toBeLessThan(1e-5 * scale);
      }
    }
    // One graph per per-run batch: a 2-sample step and a 4-sample step split in two share it.
    const two = await sessions.training({ batch: 2, height: 8, width: 8, scope: 'cross-attention' });
    expect((await sessions.training({ ...shape, samplesPerRun: 2 })).session).toBe(two.session);
    await expect(sessions.training({ ...shape, samplesPerRun: 3 })).rejects.toThrow(/divide the batch/);
  });

  it('rebuilds when the checkpoint file changes on disk (size/mtime join the fingerprint in the key)', async () => {
    const cacheDir = join(fx.dir, 'graph-cache-touch');
    const first = loadSd1Sessions(fx.checkpoint, cacheDir, { session: { executionProvider: 'cpu' } });
    const second = loadSd1Sessions(fx.checkpoint, cacheDir, { session: { executionProvider: 'cpu' } });
    try {
      expect((await first.textEncoder({ batch: 1 })).built).toBe(true);
      const later = new Date(Date.now() + 60_000);
      utimesSync(fx.checkpoint.path, later, later);
      expect((await second.textEncoder({ batch: 1 })).built).toBe(true);
    } finally {
      await first.release();
      await second.release();
    }
  });

  it('feeds K/V masks by canonical key (absent keys = ones) and rejects keys outside the scope', async () => {
    const unet = await sessions.unet({ batch: 1, height: 8, width: 8, kvMode: 'cross-attention' });
    const D = fx.checkpoint.config.unet.contextDim;
    const inputs = {
      sample: signal(4 * 64, 1),
      timestep: new Float32Array([500]),
      context: signal(77 * D, 2),
    };
    const base = await unet.run(inputs);
    const key = unet.kvKeys[0];
    const w = fx.checkpoint.shapeOf(key);
    const zeros = new Float32Array(w[0] * w[1]);
    const masked = await unet.run({ ...inputs, kvMasks: new Map([[key, zeros]]) });
    expect(maxAbsDiff(masked, base)).toBeGreaterThan(1e-4);
    const attn1 = key.replace('attn2', 'attn1');
    await expect(unet.run({ ...inputs, kvMasks: new Map([[attn1, zeros]]) })).rejects.toThrow(
      /not a K\/V weight of this graph/,
    );
  });

  it('text encoder, VAE encoder/decoder and training runners return outputs of the documented sizes', async () => {
    const { config } = fx.checkpoint;
    const text = await sessions.textEncoder({ batch: 1 });
    const ids = Int32Array.from([49406, 320, 2368, 49407, ...new Array(73).fill(49407)]);
    expect(await text.run(ids)).toHaveLength(77 * config.text.width);

    const enc = await sessions.vaeEncoder({ batch: 1, height: 16, width: 16 });
    const { mean, logvar } = await enc.run(signal(3 * 16 * 16, 3));
    expect(mean).toHaveLength(4 * 2 * 2);
    expect(logvar).toHaveLength(4 * 2 * 2);
    const dec = await sessions.vaeDecoder({ batch: 1, height: 2, width: 2 });
    expect(await dec.run(mean)).toHaveLength(3 * 16 * 16);

    const train = await sessions.training({ batch: 1, height: 8, width: 8, scope: 'cross-attention' });
    const D = config.unet.contextDim;
    const one = new Float32Array([1]);
    const { loss, grads } = await train.run({
      latents: signal(4 * 64, 4),
      noise: signal(4 * 64, 5),
      timestep: new Float32Array([400]),
      context: signal(77 * D, 6),
      lossWeight: one,
      sqrtAlphaBar: new Float32Array([0.8]),
      sqrtOneMinusAlphaBar: new Float32Array([0.6]),
    });
    expect(Number.isFinite(loss) && loss > 0).toBe(true);
    expect([...grads.keys()]).toEqual(train.kvKeys);
    for (const [key, g] of grads)
      expect(g).toHaveLength(fx.checkpoint.shapeOf(key).reduce((a, b) => a * b, 1));
  });
});
