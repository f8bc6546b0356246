/**
 * SD1-architecture checkpoints with random weights from a seed: the test model, the random demo
 * model (src/sd/demo-checkpoint.ts: the tests' choice, and the fallback where the package ships no
 * trained one), and (with the real widths) a benchmark stand-in for SD1.5. Same block structure as
 * SD1 — 4 UNet levels with transformers at the first three, the mid block, the skip structure, the VAE
 * and the CLIP text encoder — at small widths by default.
 *
 * Values: each tensor draws from its own PRNG stream seeded by (seed, canonical key), so a tensor's
 * values do not depend on write order or layout. Convs and linears ~ N(0, 1/fan_in) so activations
 * stay O(1) through the network; norm scales 1 + N(0, 0.05²) and shifts/biases N(0, 0.05²) — near
 * the usual γ = 1, β = 0, but distinct per tensor so a key-mapping mistake changes values.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  textLdmToDiffusers,
  unetLayoutFromLdmKeys,
  unetLdmToDiffusers,
  vaeLayoutFromLdmKeys,
  vaeLdmToDiffusers,
} from './checkpoint/diffusers-keys.js';
import { f32ToBf16Array, f32ToF16Array, numel } from './checkpoint/dtype.js';
import { METADATA_KEYS } from './checkpoint/infer-config.js';
import { type TensorSpec, writeSafetensors } from './checkpoint/safetensors-writer.js';
import { sd1TensorShapes, UNET_PREFIX, VAE_PREFIX } from './checkpoint/sd1-tensors.js';
import { cloneConfig, SD1_CONFIG, type SD1Config } from './config.js';

/** The default tiny model: SD1's structure, widths small enough for a 16×16 latent in milliseconds on CPU. */
export const TINY_SD1_CONFIG: SD1Config = deepFreeze({
  unet: {
    inChannels: 4,
    outChannels: 4,
    modelChannels: 32,
    channelMult: [1, 2, 4, 4],
    numResBlocks: 2,
    attentionLevels: [true, true, true, false],
    transformerDepth: 1,
    contextDim: 32,
    numHeads: 2,
    normGroups: 8,
    timeEmbedDim: 128,
    useLinearProjection: false as const,
  },
  vae: {
    inChannels: 3,
    outChannels: 3,
    latentChannels: 4,
    baseChannels: 16,
    channelMult: [1, 2, 4, 4],
    numResBlocks: 2,
    normGroups: 8,
    scalingFactor: 0.18215,
  },
  text: {
    vocabSize: 49408,
    maxPositions: 77,
    width: 32,
    layers: 2,
    numHeads: 2,
    mlpDim: 128,
    hiddenAct: 'quick_gelu' as const,
  },
});

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** The built-in demo checkpoint's file name (which file it is: src/sd/demo-checkpoint.ts). */
export const DEMO_CHECKPOINT_NAME = 'tiny-sd1-demo.safetensors';

// Where the demo checkpoint comes from (shipped trained file or these random weights) is decided there;
// re-exported for callers that knew it from here (bench/).
export { ensureDemoCheckpoint } from './demo-checkpoint.js';

/** `cones.generator` of every checkpoint written here: how the demo placement recognises an old random demo. */
export const RANDOM_GENERATOR = 'cones-nodes make-tiny-model';

export type TinyModelDtype = 'F32' | 'F16' | 'BF16';

export interface TinyModelOptions {
  seed?: number;
  /** Real SD1 widths (~1.07 B parameters) instead of TINY_SD1_CONFIG. */
  full?: boolean;
  /** Explicit architecture (overrides `full`). Its norm groups / head counts go into `__metadata__`. */
  config?: SD1Config;
  dtype?: TinyModelDtype;
  /** 'single-file' (LDM keys, one .safetensors) or 'diffusers' (a folder: unet/, vae/, text_encoder/). */
  layout?: 'single-file' | 'diffusers';
}

export interface TinyModelResult {
  path: string;
  config: SD1Config;
  parameters: number;
  bytes: number;
}

export async function writeTinyModel(path: string, options: TinyModelOptions = {}): Promise<TinyModelResult> {
  const seed = options.seed ?? 0;
  const config = cloneConfig(options.config ?? (options.full ? SD1_CONFIG : TINY_SD1_CONFIG));
  const dtype = options.dtype ?? 'F32';
  const shapes = sd1TensorShapes(config);
  const metadata = checkpointMetadataFor(config, {
    seed,
    kind: options.full ? 'sd1-full-size-random' : 'tiny-sd1',
  });
  let parameters = 0;
  for (const s of shapes.values()) parameters += numel(s);

  const encode = (canonicalKey: string, shape: readonly number[]): ArrayBufferView => {
    const values = initTensor(canonicalKey, shape, seed);
    if (dtype === 'F16') return f32ToF16Array(values);
    if (dtype === 'BF16') return f32ToBf16Array(values);
    return values;
  };

  if ((options.layout ?? 'single-file') === 'single-file') {
    const specs: TensorSpec[] = [...shapes].map(([name, shape]) => ({ name, dtype, shape }));
    const bytes = await writeSafetensors(path, specs, (spec) => encode(spec.name, spec.shape), { metadata });
    return { path, config, parameters, bytes };
  }

  // diffusers folder: same values under diffusers names and shapes.
  await mkdir(path, { recursive: true });
  const unetLayout = unetLayoutFromLdmKeys(
    [...shapes.keys()].filter((k) => k.startsWith(UNET_PREFIX)).map((k) => k.slice(UNET_PREFIX.length)),
  );
  const vaeLayout = vaeLayoutFromLdmKeys(
    [...shapes.keys()].filter((k) => k.startsWith(VAE_PREFIX)).map((k) => k.slice(VAE_PREFIX.length)),
  );
  const parts = {
    unet: { file: 'unet/diffusion_pytorch_model.safetensors', specs: [] as TensorSpec[] },
    vae: { file: 'vae/diffusion_pytorch_model.safetensors', specs: [] as TensorSpec[] },
    text: { file: 'text_encoder/model.safetensors', specs: [] as TensorSpec[] },
  };
  const canonicalOf = new Map<string, { key: string; shape: readonly number[] }>();
  for (const [key, shape] of shapes) {
    let part: keyof typeof parts;
    let name: string | undefined;
    let stored = shape;
    if (key.startsWith(UNET_PREFIX)) {
      part = 'unet';
      name = unetLdmToDiffusers(key.slice(UNET_PREFIX.length), unetLayout);
    } else if (key.startsWith(VAE_PREFIX)) {
      part = 'vae';
      name = vaeLdmToDiffusers(key.slice(VAE_PREFIX.length), vaeLayout);
      if (/\.mid_block\.attentions\.0\.to_(q|k|v|out\.0)\.weight$/.test(name ?? ''))
        stored = shape.slice(0, 2);
    } else {
      part = 'text';
      name = textLdmToDiffusers(key);
    }
    if (!name) throw new Error(`no diffusers name for ${key}`);
    parts[part].specs.push({ name, dtype, shape: stored });
    canonicalOf.set(`${part}:${name}`, { key, shape });
  }
  let bytes = 0;
  for (const [part, { file, specs }] of Object.entries(parts)) {
    const target = join(path, file);
    await mkdir(join(target, '..'), { recursive: true });
    bytes += await writeSafetensors(
      target,
      specs,
      (spec) => {
        const { key, shape } = canonicalOf.get(`${part}:${spec.name}`)!;
        return encode(key, shape);
      },
      { metadata },
    );
  }
  await writeFile(
    join(path, 'model_index.json'),
    `${JSON.stringify(
      {
        _class_name: 'StableDiffusionPipeline',
        _diffusers_version: '0.30.0',
        unet: ['diffusers', 'UNet2DConditionModel'],
        vae: ['diffusers', 'AutoencoderKL'],
        text_encoder: ['transformers', 'CLIPTextModel'],
        tokenizer: ['transformers', 'CLIPTokenizer'],
        scheduler: ['diffusers', 'PNDMScheduler'],
      },
      null,
      2,
    )}\n`,
  );
  return { path, config, parameters, bytes };
}

/**
 * `__metadata__` of a generated checkpoint: the values shapes cannot show (SD1_SPEC Addendum E) and
 * a loud marker that the weights are random.
 */
export function checkpointMetadataFor(
  config: SD1Config,
  info: { seed: number; kind: string },
): Record<string, string> {
  if (config.unet.normGroups !== config.vae.normGroups) {
    throw new Error('one sd1.norm_groups value covers UNet and VAE: make them equal');
  }
  return {
    format: 'pt',
    'cones.random_weights': 'true',
    'cones.generator': RANDOM_GENERATOR,
    'cones.model': info.kind,
    'cones.seed': String(info.seed),
    [METADATA_KEYS.unetHeads]: String(config.unet.numHeads),
    [METADATA_KEYS.textHeads]: String(config.text.numHeads),
    [METADATA_KEYS.normGroups]: String(config.unet.normGroups),
  };
}

// ---------------------------------------------------------------- initialisation

/** Values of one tensor: deterministic in (seed, key, shape). */
export function initTensor(canonicalKey: string, shape: readonly number[], seed: number): Float32Array {
  const n = numel(shape);
  const out = new Float32Array(n);
  const rng = new NormalStream(streamSeed(seed, canonicalKey));
  const isWeight = canonicalKey.endsWith('.weight');
  if (isWeight && shape.length === 1) {
    for (let i = 0; i < n; i++) out[i] = 1 + 0.05 * rng.next();
  } else if (!isWeight || shape.length === 1) {
    for (let i = 0; i < n; i++) out[i] = 0.05 * rng.next();
  } else {
    let std: number;
    if (canonicalKey.endsWith('token_embedding.weight')) std = 0.02;
    else if (canonicalKey.endsWith('position_embedding.weight')) std = 0.01;
    else std = 1 / Math.sqrt(n / shape[0]); // fan_in = in_channels × kernel area
    rng.fill(out, std);
  }
  return out;
}

function streamSeed(seed: number, key: string): number {
  // FNV-1a over the key, mixed with the seed.
  let h = 0x811c9dc5 ^ Math.imul(seed >>> 0, 0x9e3779b1);
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** xoshiro128** uniforms → normals (polar method). Fast enough for 1e9 values (the --full model). */
class NormalStream {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  private spare: number | undefined;

  constructor(seed: number) {
    // splitmix32 expands the seed into the four state words (never all zero).
    let x = seed >>> 0;
    const next = () => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next() | 1;
  }

  /** Uniform in (0, 1]. */
  private uniform(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return (result + 1) / 4294967296;
  }

  /** Marsaglia's polar method: two normals per accepted pair, no trigonometry. */
  next(): number {
    if (this.spare !== undefined) {
      const v = this.spare;
      this.spare = undefined;
      return v;
    }
    let u: number;
    let v: number;
    let s: number;
    do {
      u = 2 * this.uniform() - 1;
      v = 2 * this.uniform() - 1;
      s = u * u + v * v;
    } while (s >= 1 || s === 0);
    const f = Math.sqrt((-2 * Math.log(s)) / s);
    this.spare = v * f;
    return u * f;
  }

  fill(out: Float32Array, std: number): void {
    // Inlined xoshiro128** + polar method: this loop makes the 1.07 B values of the --full model.
    let { s0, s1, s2, s3 } = this;
    const n = out.length;
    let i = 0;
    while (i < n) {
      let u: number;
      let v: number;
      let s: number;
      do {
        let r = Math.imul(s1, 5);
        r = Math.imul((r << 7) | (r >>> 25), 9) >>> 0;
        let t = s1 << 9;
        s2 ^= s0;
        s3 ^= s1;
        s1 ^= s2;
        s0 ^= s3;
        s2 ^= t;
        s3 = (s3 << 11) | (s3 >>> 21);
        u = (r + 1) * (2 / 4294967296) - 1;
        r = Math.imul(s1, 5);
        r = Math.imul((r << 7) | (r >>> 25), 9) >>> 0;
        t = s1 << 9;
        s2 ^= s0;
        s3 ^= s1;
        s1 ^= s2;
        s0 ^= s3;
        s2 ^= t;
        s3 = (s3 << 11) | (s3 >>> 21);
        v = (r + 1) * (2 / 4294967296) - 1;
        s = u * u + v * v;
      } while (s >= 1 || s === 0);
      const f = std * Math.sqrt((-2 * Math.log(s)) / s);
      out[i++] = u * f;
      if (i < n) out[i++] = v * f;
    }
    this.s0 = s0;
    this.s1 = s1;
    this.s2 = s2;
    this.s3 = s3;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
