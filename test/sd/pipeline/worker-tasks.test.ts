import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { kvWeights } from '../../../src/sd/graphs/kv.js';
import type { SamplePayload } from '../../../src/sd/pipeline/protocol.js';
import {
  type CheckpointHandle,
  type Conditioning,
  type KvMaskPatch,
  modelFromCheckpoint,
  type SdModel,
  withPatch,
} from '../../../src/sd/pipeline/values.js';
import { handlers } from '../../../src/sd/pipeline/worker-tasks.js';
import { SAMPLER_NAMES } from '../../../src/sd/samplers/index.js';
import { SCHEDULER_NAMES } from '../../../src/sd/schedule.js';
import { TINY_SD1_CONFIG, writeTinyModel } from '../../../src/sd/tiny-model.js';
import { InterruptedError } from '../../../src/shared/interrupted.js';
import { resolveRuntimeSettings } from '../../../src/shared/runtime-settings.js';
import type { TaskContext, TaskPreview } from '../../../src/shared/tasks.js';
import type { Tensor } from '../../../src/shared/types.js';

interface Recorded {
  ctx: TaskContext;
  progress: { value: number; max: number; preview?: TaskPreview }[];
}

function context(interruptAfter = Number.POSITIVE_INFINITY): Recorded {
  const progress: Recorded['progress'] = [];
  const ctx: TaskContext = {
    progress: (value, max, preview) => progress.push({ value, max, preview }),
    get aborted() {
      return progress.length >= interruptAfter;
    },
    checkInterrupt() {
      if (progress.length >= interruptAfter) throw new InterruptedError();
    },
    settings: resolveRuntimeSettings(),
    log: () => {},
  };
  return { ctx, progress };
}

const root = mkdtempSync(join(tmpdir(), 'sd-pipeline-'));
let handle: CheckpointHandle;
let positive: Conditioning;
let negative: Conditioning;

async function encode(text: string): Promise<Tensor> {
  const { result } = await handlers.encodeText(
    { clip: { kind: 'sd1.clip', checkpoint: handle }, text },
    context().ctx,
  );
  return result.embedding;
}

function samplePayload(overrides: Partial<SamplePayload> = {}): SamplePayload {
  return {
    model: modelFromCheckpoint(handle),
    positive,
    negative,
    latent: { data: new Float32Array(4 * 8 * 8), shape: [1, 4, 8, 8] },
    seed: 7,
    steps: 3,
    cfg: 6,
    samplerName: 'euler',
    scheduler: 'normal',
    denoise: 1,
    previews: false,
    ...overrides,
  };
}

async function sample(overrides: Partial<SamplePayload> = {}, rec = context()): Promise<Float32Array> {
  const { result } = await handlers.sample(samplePayload(overrides), rec.ctx);
  return result.samples.data;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

beforeAll(async () => {
  const path = join(root, 'tiny.safetensors');
  await writeTinyModel(path, { seed: 3 });
  const { result } = await handlers.loadCheckpoint(
    { path, graphCacheDir: join(root, 'graphs') },
    context().ctx,
  );
  handle = result;
  positive = [{ embedding: await encode('a photo of a cat') }];
  negative = [{ embedding: await encode('') }];
});

describe('sd.loadCheckpoint', () => {
  it('returns a handle with id, fingerprint and a config summary', () => {
    expect(handle.id).toMatch(/^[0-9a-f]{24}$/);
    expect(handle.fingerprint).toMatch(/^[0-9a-f]{32}$/);
    expect(handle.config).toMatchObject({
      modelChannels: 32,
      contextDim: 32,
      latentChannels: 4,
      dtype: 'F32',
    });
    expect(handle.graphCacheDir).toBe(join(root, 'graphs'));
  });

  it('refuses a .ckpt pickle with a clear message', async () => {
    const bad = join(root, 'model.ckpt');
    (await import('node:fs')).writeFileSync(bad, 'PK\u0003\u0004');
    await expect(handlers.loadCheckpoint({ path: bad }, context().ctx)).rejects.toThrow(
      /pickle|safetensors/i,
    );
  });
});

describe('sd.encodeText', () => {
  it('gives [1, 77, D] for a short prompt and [1, 154, D] for a prompt over 75 tokens', async () => {
    expect(positive[0].embedding.shape).toEqual([1, 77, TINY_SD1_CONFIG.text.width]);
    const long = await encode(Array.from({ length: 90 }, () => 'cat').join(' '));
    expect(long.shape).toEqual([1, 154, TINY_SD1_CONFIG.text.width]);
  });

  it('applies prompt weights: (cat:1.5) differs from cat only at the weighted tokens', async () => {
    const plain = await encode('a cat');
    const weighted = await encode('a (cat:1.5)');
    const width = TINY_SD1_CONFIG.text.width;
    const differs = (pos: number) =>
      maxAbsDiff(
        plain.data.subarray(pos * width, (pos + 1) * width),
        weighted.data.subarray(pos * width, (pos + 1) * width),
      ) > 1e-6;
    expect(differs(1)).toBe(false); // 'a'
    expect(differs(2)).toBe(true); // 'cat'
  });
});

describe('sd.sample (KSampler)', () => {
  it('gives the identical latent for the same seed and a different one for another seed', async () => {
    const a = await sample({ seed: 11 });
    const b = await sample({ seed: 11 });
    const c = await sample({ seed: 12 });
    expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
    expect(maxAbsDiff(a, c)).toBeGreaterThan(1e-3);
  });

  it('runs every sampler with every scheduler to a finite latent', async () => {
    for (const samplerName of SAMPLER_NAMES) {
      for (const scheduler of SCHEDULER_NAMES) {
        const out = await sample({ samplerName, scheduler, steps: 2, cfg: 1.5 });
        expect(out.every(Number.isFinite), `${samplerName}/${scheduler}`).toBe(true);
        expect(
          out.some((v) => v !== 0),
          `${samplerName}/${scheduler}`,
        ).toBe(true);
      }
    }
  });

  it('reports one progress step per sampling step, each with a JPEG latent preview', async () => {
    const rec = context();
    await sample({ steps: 3, previews: true }, rec);
    expect(rec.progress.map((p) => [p.value, p.max])).toEqual([
      [1, 3],
      [2, 3],
      [3, 3],
    ]);
    for (const p of rec.progress) {
      expect(p.preview?.format).toBe('JPEG');
      expect([...p.preview!.bytes.subarray(0, 3)]).toEqual([0xff, 0xd8, 0xff]);
    }
  });

  it('stops between steps when interrupted', async () => {
    const rec = context(2);
    await expect(sample({ steps: 5 }, rec)).rejects.toBeInstanceOf(InterruptedError);
    expect(rec.progress.length).toBe(2);
  });

  it('img2img: denoise 0 returns the input latent, denoise 0.5 keeps it closer than denoise 1', async () => {
    const init = new Float32Array(4 * 8 * 8);
    for (let i = 0; i < init.length; i++) init[i] = Math.sin(i) * 2;
    const latent = { data: init, shape: [1, 4, 8, 8] };
    expect([...(await sample({ latent, denoise: 0 }))]).toEqual([...init]);
    const rec = context();
    const half = await sample({ latent, denoise: 0.5, steps: 4 }, rec);
    expect(rec.progress.length).toBe(4);
    const full = await sample({ latent, denoise: 1, steps: 4 });
    expect(maxAbsDiff(half, init)).toBeGreaterThan(0);
    expect(maxAbsDiff(half, init)).toBeLessThan(maxAbsDiff(full, init));
  });

  it('samples a batch: each latent of the batch gets its own noise', async () => {
    const out = await sample({ latent: { data: new Float32Array(2 * 4 * 8 * 8), shape: [2, 4, 8, 8] } });
    expect(out.length).toBe(2 * 256);
    expect(maxAbsDiff(out.subarray(0, 256), out.subarray(256))).toBeGreaterThan(1e-3);
  });

  it('refuses unknown sampler names and latents of the wrong channel count', async () => {
    await expect(sample({ samplerName: 'heun_magic' })).rejects.toThrow(/unknown sampler/);
    await expect(sample({ latent: { data: new Float32Array(3 * 64), shape: [1, 3, 8, 8] } })).rejects.toThrow(
      /channels/,
    );
  });
});

describe('MODEL patches (Cones K/V masks)', () => {
  const key = () => kvWeights(TINY_SD1_CONFIG.unet, 'cross-attention')[0].key;

  function patch(strength: number, fingerprint?: string): KvMaskPatch {
    const [rows, cols] = kvWeights(TINY_SD1_CONFIG.unet, 'cross-attention')[0].shape;
    const indices = new Uint32Array(rows * cols).map((_, i) => i); // every entry of one to_k weight
    return {
      kind: 'cones.kv-mask',
      label: 'test',
      fingerprint,
      indicesByKey: { [key()]: indices },
      strength,
    };
  }

  it('a patch zeroing K/V weights changes the output; the base MODEL value is untouched', async () => {
    const base = modelFromCheckpoint(handle);
    const patched: SdModel = withPatch(base, patch(1, handle.fingerprint));
    expect(base.patches).toEqual([]);
    const plain = await sample({ model: base });
    const shut = await sample({ model: patched });
    expect(maxAbsDiff(plain, shut)).toBeGreaterThan(1e-3);
  });

  it('a strength-0 patch reproduces the unpatched output', async () => {
    const plain = await sample({ model: modelFromCheckpoint(handle) });
    const open = await sample({ model: withPatch(modelFromCheckpoint(handle), patch(0)) });
    expect(maxAbsDiff(plain, open)).toBeLessThan(1e-3);
  });

  it('refuses a concept made on another base model', async () => {
    const foreign = withPatch(modelFromCheckpoint(handle), patch(1, '0'.repeat(32)));
    await expect(sample({ model: foreign })).rejects.toThrow(/another base model/);
  });
});

describe('sd.vaeDecode / sd.vaeEncode', () => {
  it('decodes [B, 4, h, w] latents to [B, 8h, 8w, 3] images in 0..1 and encodes them back to latents', async () => {
    const latent = await sample();
    const vae = { kind: 'sd1.vae' as const, checkpoint: handle };
    const { result: decoded } = await handlers.vaeDecode(
      { vae, samples: { data: latent, shape: [1, 4, 8, 8] } },
      context().ctx,
    );
    expect(decoded.image.shape).toEqual([1, 64, 64, 3]);
    expect(decoded.image.data.every((v) => v >= 0 && v <= 1)).toBe(true);
    const { result: encoded } = await handlers.vaeEncode({ vae, image: decoded.image }, context().ctx);
    expect(encoded.samples.shape).toEqual([1, 4, 8, 8]);
    expect(encoded.samples.data.every(Number.isFinite)).toBe(true);
  });
});

describe('sd.free', () => {
  it('releases loaded models, and a later task reloads transparently', async () => {
    const { result } = await handlers.free({}, context().ctx);
    expect(result.released).toContain(handle.id);
    const again = await sample({ seed: 11 });
    expect(again.every(Number.isFinite)).toBe(true);
  });
});
