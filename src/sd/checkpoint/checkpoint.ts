/**
 * Open an SD1 checkpoint — a single-file LDM `.safetensors` or a diffusers folder — and present it
 * under one vocabulary: canonical LDM keys (`model.diffusion_model.…`, `first_stage_model.…`,
 * `cond_stage_model.transformer.text_model.…`) with canonical LDM shapes, whatever the source layout.
 * Tensor data stays on disk until a graph builder asks for it.
 */
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { SD1_CONFIG, type SD1Config } from '../config.js';
import { detectForeignDiffusersPipeline, detectForeignSingleFile, type ForeignModel } from './detect.js';
import {
  textDiffusersToLdm,
  unetDiffusersToLdm,
  unetLayoutFromDiffusersKeys,
  vaeDiffusersToLdm,
  vaeLayoutFromDiffusersKeys,
} from './diffusers-keys.js';
import { type FloatDtype, isFloatDtype } from './dtype.js';
import { CheckpointError } from './errors.js';
import { computeFingerprint } from './fingerprint.js';
import { checkTensorShapes, inferSD1Config } from './infer-config.js';
import { PICKLE_REFUSAL, SafetensorsFile } from './safetensors-reader.js';
import {
  type SubModel,
  sd1TensorShapes,
  subModelOf,
  TEXT_PREFIX,
  UNET_PREFIX,
  VAE_PREFIX,
} from './sd1-tensors.js';

export interface OpenCheckpointOptions {
  /**
   * Full (non-pruned) LDM files hold EMA weights under `model_ema.*` beside the training weights.
   * 'ignore' (default) uses `model.diffusion_model.*` as ComfyUI does; 'prefer' uses the EMA copy
   * when the file has one (> 100 `model_ema` keys, SD1_SPEC §2.7). A file with EMA weights only
   * uses them either way.
   */
  ema?: 'ignore' | 'prefer';
}

/** An open SD1 checkpoint. Every key is a canonical LDM key; close() when done. */
export interface SD1Checkpoint {
  readonly path: string;
  readonly layout: 'single-file' | 'diffusers';
  readonly config: SD1Config;
  /** Same for the fp16 / fp32 / diffusers forms of one model's weights (see fingerprint.ts). */
  readonly fingerprint: string;
  /** `__metadata__` of the file (diffusers: of the three component files, merged). */
  readonly metadata: Readonly<Record<string, string>>;
  /** True when the file says it holds random weights (the tiny/demo models). */
  readonly randomWeights: boolean;
  /** Canonical keys of every tensor of the UNet, VAE and text encoder, in SD1 module order. */
  readonly keys: readonly string[];
  /** Whether EMA weights were used for the UNet. */
  readonly usedEma: boolean;
  keysOf(model: SubModel): string[];
  has(key: string): boolean;
  /** Storage dtype (F32 / F16 / BF16). */
  dtypeOf(key: string): FloatDtype;
  /** Canonical LDM shape (e.g. VAE attention q/k/v/proj_out are [C, C, 1, 1] even from diffusers). */
  shapeOf(key: string): readonly number[];
  /** Values as float32 (F16 / BF16 are widened exactly). */
  readF32(key: string): Promise<Float32Array>;
  /** Values as IEEE half bits (F16 passes through untouched; F32 / BF16 round to nearest even). */
  readF16(key: string): Promise<Uint16Array>;
  /** Bytes as stored, in `dtypeOf(key)`, little-endian, row-major. */
  readRaw(key: string): Promise<Uint8Array>;
  /** Elements [first, first + count) of the flattened tensor, as stored. */
  readElements(key: string, first: number, count: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

interface TensorLocation {
  file: SafetensorsFile;
  sourceKey: string;
  dtype: FloatDtype;
  shape: readonly number[];
}

const PICKLE_EXTENSIONS = new Set(['.ckpt', '.pt', '.pth', '.bin', '.pkl']);

export async function openCheckpoint(
  path: string,
  options: OpenCheckpointOptions = {},
): Promise<SD1Checkpoint> {
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(path);
  } catch (error) {
    throw new CheckpointError('io', `cannot open checkpoint: ${(error as Error).message}`, path);
  }
  if (info.isDirectory()) return openDiffusersFolder(path);
  if (PICKLE_EXTENSIONS.has(extname(path).toLowerCase()))
    throw new CheckpointError('unsupported-format', PICKLE_REFUSAL, path);
  return openSingleFile(path, options);
}

// ---------------------------------------------------------------- single file

async function openSingleFile(path: string, options: OpenCheckpointOptions): Promise<SD1Checkpoint> {
  const file = await SafetensorsFile.open(path);
  try {
    const raw = new Map([...file.tensors].map(([k, t]) => [k, t.shape]));
    const foreign = detectForeignSingleFile(raw);
    if (foreign) throw notSd1(foreign, path);
    const { sources, usedEma } = canonicalSingleFileKeys([...file.tensors.keys()], options.ema ?? 'ignore');
    const locations = new Map<string, { file: SafetensorsFile; sourceKey: string }>();
    for (const [canonical, sourceKey] of sources) locations.set(canonical, { file, sourceKey });
    return await assemble(path, 'single-file', locations, file.metadata, [file], usedEma);
  } catch (error) {
    await file.close();
    throw error;
  }
}

/** Canonical LDM key → key in the file. */
export function canonicalSingleFileKeys(
  keys: readonly string[],
  ema: 'ignore' | 'prefer',
): { sources: Map<string, string>; usedEma: boolean } {
  const sources = new Map<string, string>();
  const present = new Set(keys);
  for (const key of keys) {
    if (key.startsWith(UNET_PREFIX) || key.startsWith(VAE_PREFIX) || key.startsWith(TEXT_PREFIX))
      sources.set(key, key);
    else if (key.startsWith('cond_stage_model.transformer.') && !sources.has(key)) {
      // Older files omit `text_model.` (ComfyUI inserts it); the canonical form has it.
      const canonical = `${TEXT_PREFIX}${key.slice('cond_stage_model.transformer.'.length)}`;
      if (!present.has(canonical)) sources.set(canonical, key);
    }
  }
  const emaCount = keys.reduce((n, k) => n + (k.startsWith('model_ema.') ? 1 : 0), 0);
  const hasUnet = keys.some((k) => k.startsWith(UNET_PREFIX));
  let usedEma = false;
  if (emaCount > 100 && (ema === 'prefer' || !hasUnet)) {
    // EMA names drop `model.` and every remaining dot: model_ema.diffusion_modelinput_blocks11…
    const emaKeys = new Map(keys.filter((k) => k.startsWith('model_ema.')).map((k) => [k, k]));
    const unetKeys = hasUnet ? [...sources.keys()].filter((k) => k.startsWith(UNET_PREFIX)) : [];
    for (const canonical of unetKeys) {
      const emaKey = `model_ema.${canonical.slice('model.'.length).replaceAll('.', '')}`;
      if (emaKeys.has(emaKey)) {
        sources.set(canonical, emaKey);
        usedEma = true;
      }
    }
    if (!hasUnet) {
      // Recover dotted names from the EMA names via SD1's naming (only the UNet has EMA weights).
      const undotted = new Map<string, string>();
      for (const canonical of sd1UnetKeyCandidates())
        undotted.set(`model_ema.${canonical.slice('model.'.length).replaceAll('.', '')}`, canonical);
      for (const emaKey of emaKeys.keys()) {
        const canonical = undotted.get(emaKey);
        if (canonical) {
          sources.set(canonical, emaKey);
          usedEma = true;
        }
      }
    }
  }
  return { sources, usedEma };
}

/** Every UNet key an SD1 file can have (real SD1 structure); used only for EMA-only files. */
function sd1UnetKeyCandidates(): string[] {
  return [...sd1TensorShapes(SD1_CONFIG).keys()].filter((k) => k.startsWith(UNET_PREFIX));
}

// ---------------------------------------------------------------- diffusers folder

const DIFFUSERS_COMPONENTS = {
  unet: ['unet/diffusion_pytorch_model.safetensors', 'unet/diffusion_pytorch_model.fp16.safetensors'],
  vae: ['vae/diffusion_pytorch_model.safetensors', 'vae/diffusion_pytorch_model.fp16.safetensors'],
  text: ['text_encoder/model.safetensors', 'text_encoder/model.fp16.safetensors'],
} as const;

async function openDiffusersFolder(dir: string): Promise<SD1Checkpoint> {
  const indexPath = join(dir, 'model_index.json');
  if (existsSync(indexPath)) {
    let className: string | undefined;
    try {
      className = JSON.parse(await readFile(indexPath, 'utf8'))._class_name;
    } catch (error) {
      throw new CheckpointError(
        'corrupt',
        `model_index.json is not valid JSON (${(error as Error).message})`,
        dir,
      );
    }
    const foreign = detectForeignDiffusersPipeline(className);
    if (foreign) throw notSd1(foreign, dir);
  }
  const opened: SafetensorsFile[] = [];
  try {
    const files = {} as Record<SubModel, SafetensorsFile>;
    for (const [part, candidates] of Object.entries(DIFFUSERS_COMPONENTS) as [
      SubModel,
      readonly string[],
    ][]) {
      const found = candidates.map((c) => join(dir, c)).find((p) => existsSync(p));
      if (!found) {
        const folder = candidates[0].split('/')[0];
        const pickle = ['diffusion_pytorch_model.bin', 'pytorch_model.bin'].some((b) =>
          existsSync(join(dir, folder, b)),
        );
        if (pickle)
          throw new CheckpointError(
            'unsupported-format',
            `${folder}/ holds only a .bin file. ${PICKLE_REFUSAL}`,
            dir,
          );
        const looksLikeDiffusers = existsSync(indexPath) || existsSync(join(dir, 'unet'));
        throw looksLikeDiffusers
          ? new CheckpointError('missing-tensors', `diffusers folder has no ${candidates[0]}`, dir)
          : new CheckpointError(
              'unsupported-format',
              'a folder that is not a diffusers model (no model_index.json, unet/, vae/, text_encoder/)',
              dir,
            );
      }
      const file = await SafetensorsFile.open(found);
      opened.push(file);
      files[part] = file;
    }
    const locations = new Map<string, { file: SafetensorsFile; sourceKey: string }>();
    const unetKeys = [...files.unet.tensors.keys()];
    const unetLayout = unetLayoutFromDiffusersKeys(unetKeys);
    const crossWidth = [...files.unet.tensors.values()].find((t) => t.name.endsWith('attn2.to_k.weight'))
      ?.shape[1];
    if (crossWidth === 1024)
      throw notSd1({ family: 'SD2.x', evidence: 'UNet cross-attention width 1024 (SD1: 768)' }, dir);
    if (crossWidth === 2048)
      throw notSd1({ family: 'SDXL', evidence: 'UNet cross-attention width 2048' }, dir);
    for (const key of unetKeys) {
      const ldm = unetDiffusersToLdm(key, unetLayout);
      if (ldm) locations.set(UNET_PREFIX + ldm, { file: files.unet, sourceKey: key });
    }
    const vaeKeys = [...files.vae.tensors.keys()];
    const vaeLayout = vaeLayoutFromDiffusersKeys(vaeKeys);
    for (const key of vaeKeys) {
      const ldm = vaeDiffusersToLdm(key, vaeLayout);
      if (ldm) locations.set(VAE_PREFIX + ldm, { file: files.vae, sourceKey: key });
    }
    for (const key of files.text.tensors.keys()) {
      const ldm = textDiffusersToLdm(key);
      if (ldm) locations.set(ldm, { file: files.text, sourceKey: key });
    }
    const metadata = { ...files.text.metadata, ...files.vae.metadata, ...files.unet.metadata };
    return await assemble(dir, 'diffusers', locations, metadata, opened, false);
  } catch (error) {
    await Promise.all(opened.map((f) => f.close()));
    throw error;
  }
}

// ---------------------------------------------------------------- common

/** 1×1 conv weights that other layouts store as Linear [C, C] or [C, C, 1]. */
const ONE_BY_ONE_CONV = /(\.mid\.attn_1\.(q|k|v|proj_out)|\.proj_in|\.proj_out)\.weight$/;

function canonicalShape(key: string, shape: readonly number[]): readonly number[] {
  if (
    ONE_BY_ONE_CONV.test(key) &&
    shape.length >= 2 &&
    shape.length < 4 &&
    shape.slice(2).every((d) => d === 1)
  ) {
    return [shape[0], shape[1], 1, 1];
  }
  return shape;
}

async function assemble(
  path: string,
  layout: SD1Checkpoint['layout'],
  found: Map<string, { file: SafetensorsFile; sourceKey: string }>,
  metadata: Readonly<Record<string, string>>,
  files: SafetensorsFile[],
  usedEma: boolean,
): Promise<SD1Checkpoint> {
  const shapes = new Map<string, readonly number[]>();
  for (const [key, { file, sourceKey }] of found)
    shapes.set(key, canonicalShape(key, file.info(sourceKey).shape));
  const config = inferSD1Config(shapes, metadata, path);
  checkTensorShapes(config, shapes, path);

  const tensors = new Map<string, TensorLocation>();
  for (const key of sd1TensorShapes(config).keys()) {
    const { file, sourceKey } = found.get(key)!;
    const { dtype } = file.info(sourceKey);
    if (!isFloatDtype(dtype)) {
      throw new CheckpointError(
        'corrupt',
        `tensor ${sourceKey} is ${dtype}; SD1 weights must be F32, F16 or BF16`,
        path,
      );
    }
    tensors.set(key, { file, sourceKey, dtype, shape: shapes.get(key)! });
  }
  const checkpoint = new OpenSD1Checkpoint(path, layout, config, metadata, tensors, files, usedEma);
  checkpoint.fingerprint = await computeFingerprint(checkpoint);
  return checkpoint;
}

class OpenSD1Checkpoint implements SD1Checkpoint {
  fingerprint = '';
  readonly keys: readonly string[];
  readonly randomWeights: boolean;

  constructor(
    readonly path: string,
    readonly layout: SD1Checkpoint['layout'],
    readonly config: SD1Config,
    readonly metadata: Readonly<Record<string, string>>,
    private readonly tensors: ReadonlyMap<string, TensorLocation>,
    private readonly files: SafetensorsFile[],
    readonly usedEma: boolean,
  ) {
    this.keys = Object.freeze([...tensors.keys()]);
    this.randomWeights = metadata['cones.random_weights'] === 'true';
  }

  keysOf(model: SubModel): string[] {
    return this.keys.filter((k) => subModelOf(k) === model);
  }

  has(key: string): boolean {
    return this.tensors.has(key);
  }

  dtypeOf(key: string): FloatDtype {
    return this.locate(key).dtype;
  }

  shapeOf(key: string): readonly number[] {
    return this.locate(key).shape;
  }

  async readF32(key: string): Promise<Float32Array> {
    const { file, sourceKey } = this.locate(key);
    return file.readF32(sourceKey);
  }

  async readF16(key: string): Promise<Uint16Array> {
    const { file, sourceKey } = this.locate(key);
    return file.readF16(sourceKey);
  }

  async readRaw(key: string): Promise<Uint8Array> {
    const { file, sourceKey } = this.locate(key);
    return file.readRaw(sourceKey);
  }

  async readElements(key: string, first: number, count: number): Promise<Uint8Array> {
    const { file, sourceKey } = this.locate(key);
    return file.readElements(sourceKey, first, count);
  }

  async close(): Promise<void> {
    await Promise.all(this.files.map((f) => f.close()));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private locate(key: string): TensorLocation {
    const t = this.tensors.get(key);
    if (!t)
      throw new CheckpointError(
        'unknown-tensor',
        `no tensor "${key}" in this SD1 checkpoint (keys are canonical LDM names)`,
        this.path,
      );
    return t;
  }
}

function notSd1(foreign: ForeignModel, path: string): CheckpointError {
  return new CheckpointError(
    'not-sd1',
    `this looks like ${foreign.family} (${foreign.evidence}); cones-nodes runs Stable Diffusion 1.x checkpoints only (SD1.4, SD1.5 and their fine-tunes)`,
    path,
  );
}
