/**
 * The shape of a Stable Diffusion 1.x model: everything a graph builder needs besides the weights.
 * Inferred from tensor shapes (src/sd/checkpoint/infer-config.ts) so SD1.4, SD1.5 and the tiny
 * test model load through the same code; values shapes cannot show (head counts, GroupNorm groups)
 * follow SD1's conventions unless the file's `__metadata__` records them (SD1_SPEC Addendum E).
 */

export interface UNetConfig {
  /** 4 for txt2img; 9 for inpainting checkpoints, 8 for instruct-pix2pix. */
  inChannels: number;
  outChannels: number;
  /** LDM `model_channels`: width of level 0 (SD1: 320). */
  modelChannels: number;
  /** Width of level i = modelChannels × channelMult[i] (SD1: 1, 2, 4, 4). */
  channelMult: number[];
  /** ResBlocks per down level (SD1: 2); up levels have one more. */
  numResBlocks: number;
  /** Whether level i has a transformer after each ResBlock (SD1: true, true, true, false). */
  attentionLevels: boolean[];
  /** BasicTransformerBlocks per Transformer2DModel (SD1: 1). */
  transformerDepth: number;
  /** Width of the text context the cross-attention reads (SD1: 768). */
  contextDim: number;
  /** Attention heads at every level; head size = width / numHeads (SD1: 8). */
  numHeads: number;
  /** GroupNorm groups everywhere in the UNet (SD1: 32). */
  normGroups: number;
  /** Width of the time embedding MLP = 4 × modelChannels (SD1: 1280). */
  timeEmbedDim: number;
  /** SD1: 1×1 conv proj_in/proj_out (false). SD2 uses Linear (true) and is refused by the loader. */
  useLinearProjection: false;
}

export interface VAEConfig {
  /** Image channels (3). */
  inChannels: number;
  outChannels: number;
  /** Latent channels (4); the encoder emits 2 × latentChannels moments (double_z). */
  latentChannels: number;
  /** Width of level 0 (SD1: 128). */
  baseChannels: number;
  /** Width of level i = baseChannels × channelMult[i] (SD1: 1, 2, 4, 4). */
  channelMult: number[];
  /** ResBlocks per encoder level (SD1: 2); decoder levels have one more. */
  numResBlocks: number;
  /** GroupNorm groups (SD1: 32, eps 1e-6). */
  normGroups: number;
  /** Latent scaling (SD1: 0.18215). Not in the weights; always SD1's value. */
  scalingFactor: number;
}

export interface TextEncoderConfig {
  vocabSize: number;
  /** Positions in the position embedding (SD1: 77). */
  maxPositions: number;
  /** Hidden width (SD1 / CLIP ViT-L/14: 768). */
  width: number;
  layers: number;
  /** Attention heads (SD1: 12 = width / 64). */
  numHeads: number;
  /** MLP inner width (SD1: 3072). */
  mlpDim: number;
  /** SD1's CLIP uses quick_gelu: u · sigmoid(1.702 u). */
  hiddenAct: 'quick_gelu';
}

export interface SD1Config {
  unet: UNetConfig;
  vae: VAEConfig;
  text: TextEncoderConfig;
}

/** The real SD1.4 / SD1.5 configuration (SD1_SPEC §1.1, §3.1, §3.2). */
export const SD1_CONFIG: SD1Config = Object.freeze({
  unet: Object.freeze({
    inChannels: 4,
    outChannels: 4,
    modelChannels: 320,
    channelMult: Object.freeze([1, 2, 4, 4]) as number[],
    numResBlocks: 2,
    attentionLevels: Object.freeze([true, true, true, false]) as boolean[],
    transformerDepth: 1,
    contextDim: 768,
    numHeads: 8,
    normGroups: 32,
    timeEmbedDim: 1280,
    useLinearProjection: false as const,
  }),
  vae: Object.freeze({
    inChannels: 3,
    outChannels: 3,
    latentChannels: 4,
    baseChannels: 128,
    channelMult: Object.freeze([1, 2, 4, 4]) as number[],
    numResBlocks: 2,
    normGroups: 32,
    scalingFactor: 0.18215,
  }),
  text: Object.freeze({
    vocabSize: 49408,
    maxPositions: 77,
    width: 768,
    layers: 12,
    numHeads: 12,
    mlpDim: 3072,
    hiddenAct: 'quick_gelu' as const,
  }),
}) as SD1Config;

/** Width of UNet level i. */
export function unetLevelChannels(unet: UNetConfig, level: number): number {
  return unet.modelChannels * unet.channelMult[level];
}

/** Width of VAE level i. */
export function vaeLevelChannels(vae: VAEConfig, level: number): number {
  return vae.baseChannels * vae.channelMult[level];
}

/** A deep, mutable copy (SD1_CONFIG is frozen). */
export function cloneConfig(config: SD1Config): SD1Config {
  return {
    unet: {
      ...config.unet,
      channelMult: [...config.unet.channelMult],
      attentionLevels: [...config.unet.attentionLevels],
    },
    vae: { ...config.vae, channelMult: [...config.vae.channelMult] },
    text: { ...config.text },
  };
}
