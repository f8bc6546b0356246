/**
 * A training recipe: the architecture, the data, and each stage's optimiser settings. It is saved in
 * every training state and in the output's `__metadata__`, and a resumed run must use the same one.
 */
import { cloneConfig, type SD1Config } from '../sd/config.js';
import type { VaeReconstructionLoss } from '../sd/graphs/index.js';
import { TINY_SD1_CONFIG } from '../sd/tiny-model.js';
import type { ToyWorld } from './data.js';
import type { AdamWSettings, LrSchedule } from './optimizer.js';

export type StageName = 'vae' | 'unet';
export const STAGE_NAMES: readonly StageName[] = ['vae', 'unet'];

export interface StageRecipe {
  steps: number;
  batch: number;
  lr: number;
  warmupSteps: number;
  decay: LrSchedule['decay'];
  minLr: number;
  /** Clip the global gradient norm to this (0 = off). */
  clipNorm: number;
  adamw: AdamWSettings;
  /**
   * Step s draws the batch and noise of data step `dataOffset` + s (absent = 0). A run started
   * `--init-from` an earlier one sets it to the steps the lineage already trained, so the new run
   * sees new samples while its step counter, warm-up and AdamW start afresh.
   */
  dataOffset?: number;
}

export interface VaeRecipe extends StageRecipe {
  klWeight: number;
  /** L1 on neighbouring-pixel differences (absent = 0, LDM's loss; see buildVaeTrainingGraph). */
  edgeWeight?: number;
  /**
   * Train on random square crops of this side (pixels, a multiple of the VAE's downsampling) of each
   * rendered image instead of the whole frame (absent = whole frame). The VAE is convolutional, so a
   * crop teaches the same local rendering at a fraction of the cost per sample.
   */
  cropSize?: number;
  /** Reconstruction term (absent = 'l1', LDM's; see buildVaeTrainingGraph). */
  reconstruction?: VaeReconstructionLoss;
  /**
   * Train the decoder only (absent = the whole VAE). The encoder and quant_conv stay as they are, so a
   * UNet trained on this VAE's latents stays valid and no latent scale is folded afterwards: the way to
   * sharpen a shipped model's decoding without retraining its UNet.
   */
  decoderOnly?: boolean;
}

export interface UnetRecipe extends StageRecipe {
  /** EMA decay of the UNet weights (the exported UNet is the EMA). */
  emaDecay: number;
  /** Fraction of captions replaced by the empty prompt (classifier-free guidance). */
  captionDropout: number;
  trainTextEncoder: boolean;
  /**
   * Offset noise (absent = 0, plain SD1 training): the diffusion noise of each sample gets this times a
   * per-channel constant drawn from N(0, 1) added, so the model learns to move a latent's mean. Plain
   * ε-noise barely changes an image's mean colour even at t = 999 (√ᾱ ≈ 0.07 of the signal stays), so a
   * model trained without it keeps the mean of its starting noise — in the toy world, whose background
   * fills most of the frame, the background then follows the seed instead of the prompt. Sampling is
   * unchanged (SD1's schedule and samplers).
   */
  offsetNoise?: number;
}

export interface TrainRecipe {
  config: SD1Config;
  /** Seeds the initial weights and every batch. */
  seed: number;
  /** Training image size in pixels (square). */
  imageSize: number;
  world: ToyWorld;
  vae: VaeRecipe;
  unet: UnetRecipe;
  /** Write a training state every this many steps (and at the end of each stage). */
  checkpointEvery: number;
  /** ORT intra-op threads. */
  threads: number;
}

/** The proposed demo architecture (see README.md here for the measurements behind it). */
export function demoConfig(): SD1Config {
  const c = cloneConfig(TINY_SD1_CONFIG);
  // UNet 4.0 M parameters: levels 48/96/96 at 8×8/4×4/2×2 latents, transformers below the top level.
  c.unet.modelChannels = 48;
  c.unet.channelMult = [1, 2, 2];
  c.unet.numResBlocks = 1;
  c.unet.attentionLevels = [false, true, true];
  c.unet.numHeads = 4;
  c.unet.normGroups = 8;
  c.unet.timeEmbedDim = 4 * 48;
  c.unet.contextDim = 192;
  // VAE: SD1's four levels (64×64 px → 8×8 latents) at widths 16/32/64/128. The widest level is the
  // cheapest (8×8); doubling it lowered the loss ~10 % per step for ~1.2× the step time (src/train/README.md).
  c.vae.baseChannels = 16;
  c.vae.channelMult = [1, 2, 4, 8];
  c.vae.numResBlocks = 1;
  c.vae.normGroups = 8;
  c.text.width = 192;
  c.text.layers = 2;
  c.text.numHeads = 4;
  c.text.mlpDim = 768;
  return c;
}

const adamw = (weightDecay: number): AdamWSettings => ({ beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay });

export function defaultRecipe(overrides: { config?: SD1Config; seed?: number } = {}): TrainRecipe {
  return {
    config: overrides.config ?? demoConfig(),
    seed: overrides.seed ?? 0,
    imageSize: 64,
    world: 'full',
    vae: {
      steps: 10000,
      batch: 16,
      lr: 1e-3,
      warmupSteps: 100,
      decay: 'cosine',
      minLr: 1e-4,
      clipNorm: 1,
      adamw: adamw(0),
      klWeight: 1e-6,
      cropSize: 32,
    },
    unet: {
      steps: 5000,
      batch: 64,
      lr: 5e-4,
      warmupSteps: 250,
      decay: 'cosine',
      minLr: 5e-5,
      clipNorm: 1,
      adamw: adamw(0.01),
      emaDecay: 0.999,
      captionDropout: 0.1,
      trainTextEncoder: false,
    },
    checkpointEvery: 500,
    threads: 2,
  };
}
