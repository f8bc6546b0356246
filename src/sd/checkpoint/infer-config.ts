/**
 * SD1Config from tensor shapes alone (canonical LDM key → shape), plus the `__metadata__` keys of
 * SD1_SPEC Addendum E for what shapes cannot show. Works on a shape table without any tensor data,
 * so it is tested on SD1's real 1,130-tensor table.
 */
import type { SD1Config, TextEncoderConfig, UNetConfig, VAEConfig } from '../config.js';
import { unetLayoutFromLdmKeys, vaeLayoutFromLdmKeys } from './diffusers-keys.js';
import { CheckpointError } from './errors.js';
import { sd1TensorShapes, TEXT_PREFIX, UNET_PREFIX, VAE_PREFIX } from './sd1-tensors.js';

export type ShapeTable = ReadonlyMap<string, readonly number[]>;

/** `__metadata__` keys that override SD1's conventions (written by make-tiny-model). */
export const METADATA_KEYS = {
  unetHeads: 'sd1.unet.num_heads',
  textHeads: 'sd1.text.num_heads',
  normGroups: 'sd1.norm_groups',
} as const;

/** SD1's conventions for values the weights do not show (SD1_SPEC Addendum E). */
const SD1_UNET_HEADS = 8;
const SD1_NORM_GROUPS = 32;
const CLIP_HEAD_WIDTH = 64;

export function inferSD1Config(
  shapes: ShapeTable,
  metadata: Readonly<Record<string, string>> = {},
  path?: string,
): SD1Config {
  const ctx = new ShapeReader(shapes, path);
  const normGroups = metadataInt(metadata, METADATA_KEYS.normGroups, path) ?? SD1_NORM_GROUPS;
  const config: SD1Config = {
    unet: inferUNet(ctx, metadata, normGroups, path),
    vae: inferVAE(ctx, normGroups),
    text: inferText(ctx, metadata, path),
  };
  if (config.text.width !== config.unet.contextDim) {
    throw new CheckpointError(
      'not-sd1',
      `text encoder width ${config.text.width} does not match the UNet's cross-attention width ${config.unet.contextDim}`,
      path,
    );
  }
  return config;
}

/** Every expected tensor present with its expected shape; throws a 'missing-tensors' error listing the first problems. */
export function checkTensorShapes(config: SD1Config, shapes: ShapeTable, path?: string): void {
  const missing: string[] = [];
  const wrong: string[] = [];
  for (const [key, expected] of sd1TensorShapes(config)) {
    const actual = shapes.get(key);
    if (!actual) missing.push(key);
    else if (actual.length !== expected.length || actual.some((d, i) => d !== expected[i])) {
      wrong.push(`${key} is [${actual.join(', ')}], expected [${expected.join(', ')}]`);
    }
  }
  if (missing.length === 0 && wrong.length === 0) return;
  const parts: string[] = [];
  if (missing.length)
    parts.push(
      `${missing.length} tensors missing (${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''})`,
    );
  if (wrong.length)
    parts.push(
      `${wrong.length} tensors with unexpected shapes (${wrong.slice(0, 3).join('; ')}${wrong.length > 3 ? '; …' : ''})`,
    );
  throw new CheckpointError('missing-tensors', `not a complete SD1 checkpoint: ${parts.join('; ')}`, path);
}

class ShapeReader {
  constructor(
    readonly shapes: ShapeTable,
    readonly path?: string,
  ) {}

  shape(key: string): readonly number[] {
    const s = this.shapes.get(key);
    if (!s) throw new CheckpointError('missing-tensors', `tensor ${key} is missing`, this.path);
    return s;
  }

  dim(key: string, axis: number): number {
    return this.shape(key)[axis];
  }

  has(key: string): boolean {
    return this.shapes.has(key);
  }

  keysUnder(prefix: string): string[] {
    const out: string[] = [];
    for (const key of this.shapes.keys()) if (key.startsWith(prefix)) out.push(key.slice(prefix.length));
    return out;
  }
}

function inferUNet(
  ctx: ShapeReader,
  metadata: Readonly<Record<string, string>>,
  normGroups: number,
  path?: string,
): UNetConfig {
  const P = UNET_PREFIX;
  const keys = ctx.keysUnder(P);
  if (keys.length === 0)
    throw new CheckpointError('missing-tensors', 'no UNet tensors (model.diffusion_model.*)', path);
  const convIn = ctx.shape(`${P}input_blocks.0.0.weight`);
  const modelChannels = convIn[0];
  const layout = unetLayoutFromLdmKeys(keys);
  const L = layout.numResBlocks;
  if (L < 1) throw new CheckpointError('missing-tensors', 'UNet has no ResBlocks in input_blocks', path);
  const levels = layout.upBlockHasAttention.length;
  const channelMult: number[] = [];
  const attentionLevels: boolean[] = [];
  for (let level = 0; level < levels; level++) {
    const first = `${P}input_blocks.${1 + level * (L + 1)}`;
    const width = ctx.dim(`${first}.0.in_layers.2.weight`, 0);
    if (width % modelChannels !== 0) {
      throw new CheckpointError(
        'not-sd1',
        `UNet level ${level} width ${width} is not a multiple of ${modelChannels}`,
        path,
      );
    }
    channelMult.push(width / modelChannels);
    attentionLevels.push(ctx.has(`${first}.1.proj_in.weight`));
  }
  const mid = `${P}middle_block.1`;
  const transformerDepth = keys.filter((k) =>
    /^middle_block\.1\.transformer_blocks\.\d+\.norm1\.weight$/.test(k),
  ).length;
  const contextDim = ctx.dim(`${mid}.transformer_blocks.0.attn2.to_k.weight`, 1);
  const widths = channelMult.map((m) => m * modelChannels);
  const numHeads = metadataInt(metadata, METADATA_KEYS.unetHeads, path) ?? SD1_UNET_HEADS;
  for (const w of widths) {
    if (w % numHeads !== 0) {
      throw new CheckpointError(
        'not-sd1',
        `UNet width ${w} is not divisible by ${numHeads} heads; record the head count in __metadata__["${METADATA_KEYS.unetHeads}"]`,
        path,
      );
    }
    if (w % normGroups !== 0) {
      throw new CheckpointError(
        'not-sd1',
        `UNet width ${w} is not divisible by ${normGroups} GroupNorm groups; record them in __metadata__["${METADATA_KEYS.normGroups}"]`,
        path,
      );
    }
  }
  return {
    inChannels: convIn[1],
    outChannels: ctx.dim(`${P}out.2.weight`, 0),
    modelChannels,
    channelMult,
    numResBlocks: L,
    attentionLevels,
    transformerDepth,
    contextDim,
    numHeads,
    normGroups,
    timeEmbedDim: ctx.dim(`${P}time_embed.0.weight`, 0),
    useLinearProjection: false,
  };
}

function inferVAE(ctx: ShapeReader, normGroups: number): VAEConfig {
  const P = VAE_PREFIX;
  const keys = ctx.keysUnder(P);
  if (keys.length === 0)
    throw new CheckpointError('missing-tensors', 'no VAE tensors (first_stage_model.*)', ctx.path);
  const convIn = ctx.shape(`${P}encoder.conv_in.weight`);
  const base = convIn[0];
  const { levels } = vaeLayoutFromLdmKeys(keys);
  const numResBlocks = keys.filter((k) => /^encoder\.down\.0\.block\.\d+\.conv1\.weight$/.test(k)).length;
  const channelMult: number[] = [];
  for (let i = 0; i < levels; i++) {
    const width = ctx.dim(`${P}encoder.down.${i}.block.0.conv1.weight`, 0);
    if (width % base !== 0 || width % normGroups !== 0) {
      throw new CheckpointError(
        'not-sd1',
        `VAE level ${i} width ${width} is not a multiple of ${base} and ${normGroups} groups`,
        ctx.path,
      );
    }
    channelMult.push(width / base);
  }
  return {
    inChannels: convIn[1],
    outChannels: ctx.dim(`${P}decoder.conv_out.weight`, 0),
    latentChannels: ctx.dim(`${P}post_quant_conv.weight`, 0),
    baseChannels: base,
    channelMult,
    numResBlocks,
    normGroups,
    scalingFactor: 0.18215,
  };
}

function inferText(
  ctx: ShapeReader,
  metadata: Readonly<Record<string, string>>,
  path?: string,
): TextEncoderConfig {
  const P = TEXT_PREFIX;
  const keys = ctx.keysUnder(P);
  if (keys.length === 0)
    throw new CheckpointError(
      'missing-tensors',
      'no text encoder tensors (cond_stage_model.transformer.*)',
      path,
    );
  const [vocabSize, width] = ctx.shape(`${P}embeddings.token_embedding.weight`);
  const layers = keys.filter((k) => /^encoder\.layers\.\d+\.layer_norm1\.weight$/.test(k)).length;
  const numHeads =
    metadataInt(metadata, METADATA_KEYS.textHeads, path) ?? Math.max(1, Math.floor(width / CLIP_HEAD_WIDTH));
  if (width % numHeads !== 0) {
    throw new CheckpointError(
      'not-sd1',
      `text encoder width ${width} is not divisible by ${numHeads} heads; record the head count in __metadata__["${METADATA_KEYS.textHeads}"]`,
      path,
    );
  }
  return {
    vocabSize,
    maxPositions: ctx.dim(`${P}embeddings.position_embedding.weight`, 0),
    width,
    layers,
    numHeads,
    mlpDim: ctx.dim(`${P}encoder.layers.0.mlp.fc1.weight`, 0),
    hiddenAct: 'quick_gelu',
  };
}

function metadataInt(
  metadata: Readonly<Record<string, string>>,
  key: string,
  path?: string,
): number | undefined {
  const raw = metadata[key];
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new CheckpointError(
      'corrupt',
      `__metadata__["${key}"] = ${JSON.stringify(raw)} is not a positive integer`,
      path,
    );
  }
  return value;
}
