import { cp, mkdir, mkdtemp, rename, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCheckpoint, type SD1Checkpoint } from '../../../src/sd/checkpoint/checkpoint.js';
import {
  bf16BitsToF32,
  f16BitsToF32,
  f32ToBf16Array,
  f32ToF16Array,
  type SafetensorsDtype,
} from '../../../src/sd/checkpoint/dtype.js';
import { CheckpointError } from '../../../src/sd/checkpoint/errors.js';
import { SafetensorsFile } from '../../../src/sd/checkpoint/safetensors-reader.js';
import {
  type TensorSpec,
  writeSafetensors,
  writeSafetensorsTensors,
} from '../../../src/sd/checkpoint/safetensors-writer.js';
import { TINY_SD1_CONFIG, writeTinyModel } from '../../../src/sd/tiny-model.js';

let dir: string;
let f32Path: string;
let f16Path: string;
let diffusersPath: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cones-checkpoint-'));
  f32Path = join(dir, 'tiny-f32.safetensors');
  f16Path = join(dir, 'tiny-f16.safetensors');
  diffusersPath = join(dir, 'tiny-diffusers');
  await writeTinyModel(f32Path, { seed: 7 });
  await writeTinyModel(f16Path, { seed: 7, dtype: 'F16' });
  await writeTinyModel(diffusersPath, { seed: 7, layout: 'diffusers' });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function withCheckpoint<T>(
  path: string,
  fn: (c: SD1Checkpoint) => Promise<T>,
  options = {},
): Promise<T> {
  const c = await openCheckpoint(path, options);
  try {
    return await fn(c);
  } finally {
    await c.close();
  }
}

async function refusal(path: string): Promise<CheckpointError> {
  try {
    await (await openCheckpoint(path)).close();
  } catch (error) {
    expect(error).toBeInstanceOf(CheckpointError);
    return error as CheckpointError;
  }
  throw new Error(`expected ${path} to be refused`);
}

/** Copy a safetensors file, renaming (or dropping, → undefined) keys and adding extra tensors. */
async function rewrite(
  src: string,
  dst: string,
  renameKey: (key: string) => string | string[] | undefined,
  extra: Map<string, { dtype: SafetensorsDtype; shape: number[]; data: ArrayBufferView }> = new Map(),
  extraSource?: (key: string) => Promise<Uint8Array>,
): Promise<void> {
  const file = await SafetensorsFile.open(src);
  const origin = new Map<string, string>();
  const specs: TensorSpec[] = [];
  for (const [key, info] of file.tensors) {
    const renamed = renameKey(key);
    for (const name of renamed === undefined ? [] : Array.isArray(renamed) ? renamed : [renamed]) {
      origin.set(name, key);
      specs.push({ name, dtype: info.dtype, shape: info.shape });
    }
  }
  for (const [name, t] of extra) specs.push({ name, dtype: t.dtype, shape: t.shape });
  await writeSafetensors(
    dst,
    specs,
    async (spec) => {
      if (extra.has(spec.name)) return extra.get(spec.name)!.data;
      const key = origin.get(spec.name)!;
      return extraSource && spec.name.startsWith('model_ema.') ? extraSource(key) : file.readRaw(key);
    },
    { metadata: { ...file.metadata } },
  );
  await file.close();
}

describe('openCheckpoint on the tiny model', () => {
  it('infers the tiny config and lists every tensor under canonical LDM keys', async () => {
    await withCheckpoint(f32Path, async (c) => {
      expect(c.layout).toBe('single-file');
      expect(c.config).toEqual(TINY_SD1_CONFIG);
      expect(c.randomWeights).toBe(true);
      expect(c.fingerprint).toMatch(/^[0-9a-f]{32}$/);
      expect(c.keysOf('unet').length + c.keysOf('vae').length + c.keysOf('text').length).toBe(c.keys.length);
      expect(c.keysOf('unet')).toContain(
        'model.diffusion_model.middle_block.1.transformer_blocks.0.attn2.to_k.weight',
      );
      expect(
        c.shapeOf('model.diffusion_model.middle_block.1.transformer_blocks.0.attn2.to_k.weight'),
      ).toEqual([128, 32]);
      expect(c.shapeOf('first_stage_model.decoder.mid.attn_1.q.weight')).toEqual([64, 64, 1, 1]);
      expect(c.dtypeOf('first_stage_model.decoder.mid.attn_1.q.weight')).toBe('F32');
      await expect(c.readF32('model.diffusion_model.nope.weight')).rejects.toThrow(
        /no tensor "model\.diffusion_model\.nope\.weight"/,
      );
    });
  });

  it('LDM single file and diffusers folder of one model load to identical canonical tensors', async () => {
    const ldm = await openCheckpoint(f32Path);
    const diffusers = await openCheckpoint(diffusersPath);
    try {
      expect(diffusers.layout).toBe('diffusers');
      expect(diffusers.config).toEqual(ldm.config);
      expect([...diffusers.keys].sort()).toEqual([...ldm.keys].sort());
      const differing: string[] = [];
      for (const key of ldm.keys) {
        expect(diffusers.shapeOf(key)).toEqual(ldm.shapeOf(key));
        const [a, b] = await Promise.all([ldm.readRaw(key), diffusers.readRaw(key)]);
        if (!Buffer.from(a).equals(Buffer.from(b))) differing.push(key);
      }
      expect(differing).toEqual([]);
      expect(diffusers.fingerprint).toBe(ldm.fingerprint);
    } finally {
      await Promise.all([ldm.close(), diffusers.close()]);
    }
  });

  it('fp16 and fp32 files of one model share a fingerprint; fp16 values are the fp32 values rounded', async () => {
    const f32 = await openCheckpoint(f32Path);
    const f16 = await openCheckpoint(f16Path);
    try {
      expect(f16.fingerprint).toBe(f32.fingerprint);
      const key = 'model.diffusion_model.input_blocks.4.1.transformer_blocks.0.ff.net.0.proj.weight';
      expect(f16.dtypeOf(key)).toBe('F16');
      const exact = await f32.readF32(key);
      const halfBits = await f16.readF16(key);
      expect([...halfBits]).toEqual([...f32ToF16Array(exact)]);
      expect([...(await f32.readF16(key))]).toEqual([...halfBits]);
      expect([...(await f16.readF32(key))]).toEqual([...f16BitsToF32(halfBits)]);
    } finally {
      await Promise.all([f32.close(), f16.close()]);
    }
  });

  it('different seeds give different fingerprints; the same seed gives the same', async () => {
    const other = join(dir, 'seed8.safetensors');
    const again = join(dir, 'seed7-again.safetensors');
    await writeTinyModel(other, { seed: 8, dtype: 'F16' });
    await writeTinyModel(again, { seed: 7, dtype: 'F16' });
    const [a, b, c] = await Promise.all(
      [f16Path, other, again].map((p) => withCheckpoint(p, async (x) => x.fingerprint)),
    );
    expect(b).not.toBe(a);
    expect(c).toBe(a);
  });

  it('loads BF16 files, widening exactly', async () => {
    const path = join(dir, 'tiny-bf16.safetensors');
    await writeTinyModel(path, { seed: 7, dtype: 'BF16' });
    const key = 'cond_stage_model.transformer.text_model.encoder.layers.1.mlp.fc2.weight';
    const exact = await withCheckpoint(f32Path, (c) => c.readF32(key));
    await withCheckpoint(path, async (c) => {
      expect(c.dtypeOf(key)).toBe('BF16');
      expect([...(await c.readF32(key))]).toEqual([...bf16BitsToF32(f32ToBf16Array(exact))]);
    });
  });

  it('accepts older text keys without text_model., ignores schedule buffers and position_ids', async () => {
    const path = join(dir, 'old-text-keys.safetensors');
    const extra = new Map([
      ['betas', { dtype: 'F32' as const, shape: [1000], data: new Float32Array(1000) }],
      [
        'cond_stage_model.transformer.embeddings.position_ids',
        { dtype: 'I64' as const, shape: [1, 77], data: new BigInt64Array(77) },
      ],
    ]);
    await rewrite(
      f16Path,
      path,
      (k) => k.replace('cond_stage_model.transformer.text_model.', 'cond_stage_model.transformer.'),
      extra,
    );
    const [a, b] = await Promise.all(
      [f16Path, path].map((p) => withCheckpoint(p, async (x) => [x.fingerprint, x.keys.length])),
    );
    expect(b).toEqual(a);
  });

  it('diffusers folders with only the .fp16.safetensors variant load too', async () => {
    const path = join(dir, 'diffusers-fp16');
    await cp(diffusersPath, path, { recursive: true });
    for (const f of ['unet/diffusion_pytorch_model', 'vae/diffusion_pytorch_model', 'text_encoder/model']) {
      await rename(join(path, `${f}.safetensors`), join(path, `${f}.fp16.safetensors`));
    }
    expect(await withCheckpoint(path, async (c) => c.fingerprint)).toBe(
      await withCheckpoint(f32Path, async (c) => c.fingerprint),
    );
  });
});

describe('EMA weights', () => {
  const emaName = (key: string) => `model_ema.${key.slice('model.'.length).replaceAll('.', '')}`;
  let withEma: string;
  let emaOnly: string;
  beforeAll(async () => {
    // EMA copy = the seed-8 model's UNet, so EMA and training weights differ.
    const seed8 = join(dir, 'ema-source.safetensors');
    await writeTinyModel(seed8, { seed: 8, dtype: 'F16' });
    const source = await SafetensorsFile.open(seed8);
    withEma = join(dir, 'with-ema.safetensors');
    emaOnly = join(dir, 'ema-only.safetensors');
    const emaKeys = (k: string) => (k.startsWith('model.diffusion_model.') ? [k, emaName(k)] : k);
    await rewrite(f16Path, withEma, emaKeys, new Map(), (key) => source.readRaw(key));
    await rewrite(
      f16Path,
      emaOnly,
      (k) => (k.startsWith('model.diffusion_model.') ? emaName(k) : k),
      new Map(),
      (key) => source.readRaw(key),
    );
    await source.close();
  });

  it('are ignored by default (as ComfyUI does)', async () => {
    const [plain, ignored] = await Promise.all(
      [f16Path, withEma].map((p) => withCheckpoint(p, async (c) => [c.fingerprint, c.usedEma])),
    );
    expect(ignored).toEqual([plain[0], false]);
  });

  it("are used for the UNet with { ema: 'prefer' }, and when the file has EMA weights only", async () => {
    const key = 'model.diffusion_model.output_blocks.8.1.transformer_blocks.0.attn1.to_v.weight';
    const emaValues = await withCheckpoint(join(dir, 'ema-source.safetensors'), (c) => c.readF32(key));
    for (const [path, options] of [
      [withEma, { ema: 'prefer' }],
      [emaOnly, {}],
    ] as const) {
      await withCheckpoint(
        path,
        async (c) => {
          expect(c.usedEma).toBe(true);
          expect([...(await c.readF32(key))]).toEqual([...emaValues]);
          // VAE and text encoder still come from the main weights.
          const vaeKey = 'first_stage_model.decoder.conv_out.weight';
          expect([...(await c.readF32(vaeKey))]).toEqual([
            ...(await withCheckpoint(f16Path, (x) => x.readF32(vaeKey))),
          ]);
        },
        options,
      );
    }
  });
});

describe('refusals', () => {
  async function smallFile(name: string, shapes: Record<string, number[]>): Promise<string> {
    const path = join(dir, name);
    const tensors = new Map(
      Object.entries(shapes).map(([k, shape]) => [
        k,
        { dtype: 'F16' as const, shape, data: new Uint16Array(shape.reduce((a, b) => a * b, 1)) },
      ]),
    );
    await writeSafetensorsTensors(path, tensors);
    return path;
  }

  it('refuses .ckpt pickles with instructions to convert to safetensors', async () => {
    const path = join(dir, 'model.ckpt');
    await writeFile(path, Buffer.concat([Buffer.from('PK\x03\x04'), Buffer.alloc(100)]));
    const e = await refusal(path);
    expect(e.code).toBe('unsupported-format');
    expect(e.message).toMatch(/\.ckpt.*pickle.*can execute code.*safetensors/s);
    expect(e.message).toMatch(/save_file/);
  });

  it('refuses a diffusers folder whose weights are only pickled .bin files', async () => {
    const path = join(dir, 'diffusers-bin');
    await cp(diffusersPath, path, { recursive: true });
    await rename(
      join(path, 'vae/diffusion_pytorch_model.safetensors'),
      join(path, 'vae/diffusion_pytorch_model.bin'),
    );
    const e = await refusal(path);
    expect(e.code).toBe('unsupported-format');
    expect(e.message).toMatch(/vae\/ holds only a \.bin file/);
  });

  const foreign: [string, Record<string, number[]>, RegExp][] = [
    [
      'SDXL',
      {
        'conditioner.embedders.0.transformer.text_model.embeddings.token_embedding.weight': [4, 768],
        'conditioner.embedders.1.model.token_embedding.weight': [4, 1280],
        'model.diffusion_model.input_blocks.0.0.weight': [320, 4, 3, 3],
        'model.diffusion_model.label_emb.0.0.weight': [1280, 2816],
      },
      /looks like SDXL \(has keys like "conditioner\.embedders\./,
    ],
    [
      'SD2 (OpenCLIP)',
      {
        'cond_stage_model.model.transformer.resblocks.0.attn.in_proj_weight': [3072, 1024],
        'model.diffusion_model.input_blocks.0.0.weight': [320, 4, 3, 3],
      },
      /looks like SD2\.x \(OpenCLIP text encoder\)/,
    ],
    [
      'SD2 (converted text encoder, cross-attention 1024)',
      {
        'model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight': [320, 1024],
        'model.diffusion_model.input_blocks.1.1.proj_in.weight': [320, 320],
      },
      /looks like SD2\.x \(cross-attention width 1024/,
    ],
    ['SD3', { 'model.diffusion_model.joint_blocks.0.x_block.attn.qkv.weight': [4, 4] }, /looks like SD3/],
    [
      'Flux',
      { 'double_blocks.0.img_attn.qkv.weight': [4, 4], 'single_blocks.0.linear1.weight': [4, 4] },
      /looks like Flux/,
    ],
    [
      'LoRA',
      { 'lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight': [4, 320] },
      /looks like LoRA/,
    ],
    [
      'a standalone VAE',
      {
        'encoder.down.0.block.0.conv1.weight': [4, 4, 3, 3],
        'decoder.up.0.block.0.conv1.weight': [4, 4, 3, 3],
      },
      /looks like a standalone VAE/,
    ],
    [
      'something else',
      { 'fc.weight': [2, 2] },
      /not a Stable Diffusion checkpoint \(no model\.diffusion_model\.\* keys \(first keys: "fc\.weight"/,
    ],
  ];
  for (const [family, shapes, message] of foreign) {
    it(`refuses ${family} checkpoints, naming what was detected`, async () => {
      const e = await refusal(await smallFile(`${family.replace(/\W+/g, '-')}.safetensors`, shapes));
      expect(e.code).toBe('not-sd1');
      expect(e.message).toMatch(message);
      expect(e.message).toMatch(/Stable Diffusion 1\.x checkpoints only/);
    });
  }

  it('refuses a diffusers SDXL pipeline by its model_index.json', async () => {
    const path = join(dir, 'diffusers-xl');
    await mkdir(path, { recursive: true });
    await writeFile(
      join(path, 'model_index.json'),
      JSON.stringify({ _class_name: 'StableDiffusionXLPipeline' }),
    );
    const e = await refusal(path);
    expect(e.code).toBe('not-sd1');
    expect(e.message).toMatch(/SDXL \(model_index\.json _class_name "StableDiffusionXLPipeline"\)/);
  });

  it('names the missing tensor of an incomplete checkpoint', async () => {
    const path = join(dir, 'missing-one.safetensors');
    const dropped = 'model.diffusion_model.output_blocks.7.1.transformer_blocks.0.attn2.to_v.weight';
    await rewrite(f16Path, path, (k) => (k === dropped ? undefined : k));
    const e = await refusal(path);
    expect(e.code).toBe('missing-tensors');
    expect(e.message).toContain(`1 tensors missing (${dropped})`);
  });

  it('says which sub-model a UNet-only file lacks', async () => {
    const path = join(dir, 'unet-only.safetensors');
    await rewrite(f16Path, path, (k) => (k.startsWith('model.diffusion_model.') ? k : undefined));
    const e = await refusal(path);
    expect(e.code).toBe('missing-tensors');
    expect(e.message).toMatch(/no VAE tensors/);
  });

  it('refuses a truncated checkpoint', async () => {
    const path = join(dir, 'truncated.safetensors');
    await cp(f16Path, path);
    await truncate(path, (await stat(path)).size - 1000);
    const e = await refusal(path);
    expect(e.code).toBe('truncated');
  });

  it('refuses a missing path and a folder that is not a model', async () => {
    expect((await refusal(join(dir, 'nope.safetensors'))).code).toBe('io');
    const empty = join(dir, 'empty-folder');
    await mkdir(empty);
    expect((await refusal(empty)).message).toMatch(/not a diffusers model/);
  });
});
