/**
 * Payloads and results of the SD worker tasks (src/sd/tasks.ts). Node code on the main thread builds
 * the payloads; the worker owns weights and sessions. Everything here survives structured cloning.
 */
import type { TaskSpec } from '../../shared/tasks.js';
import type { Tensor } from '../../shared/types.js';
import type { OpenGraph } from './loaded-model.js';
import type { CheckpointHandle, Conditioning, SdClip, SdModel, SdVae } from './values.js';

export const SD_TASKS = {
  loadCheckpoint: 'sd.loadCheckpoint',
  encodeText: 'sd.encodeText',
  sample: 'sd.sample',
  vaeDecode: 'sd.vaeDecode',
  vaeEncode: 'sd.vaeEncode',
  free: 'sd.free',
  /** Introspection: the worker's loaded models, their open graphs and bytes (not a ComfyUI operation). */
  debugModels: 'sd.debugModels',
} as const;

export interface LoadCheckpointPayload {
  path: string;
  /** Folder for built ONNX graphs (the service passes `<data dir>/cache/onnx`). */
  graphCacheDir?: string;
}
export type LoadCheckpointResult = CheckpointHandle;

export interface EncodeTextPayload {
  clip: SdClip;
  text: string;
}
export interface EncodeTextResult {
  /** `[1, 77·k, D]` hidden states after the final LayerNorm, token weights applied. */
  embedding: Tensor;
}

export interface SamplePayload {
  model: SdModel;
  positive: Conditioning;
  negative: Conditioning;
  /** LATENT samples `[B, 4, h, w]` in VAE space (unscaled, as ComfyUI stores latents). */
  latent: Tensor;
  /** Integral seed (0 … 2⁶⁴−1; JSON numbers above 2⁵³ arrive rounded, which is still deterministic). */
  seed: number;
  steps: number;
  cfg: number;
  samplerName: string;
  scheduler: string;
  denoise: number;
  /** Send a JPEG latent preview with each progress step (default true). */
  previews?: boolean;
}
export interface SampleResult {
  samples: Tensor;
}

export interface VaeDecodePayload {
  vae: SdVae;
  samples: Tensor;
}
export interface VaeDecodeResult {
  /** IMAGE `[B, H, W, 3]` in 0..1. */
  image: Tensor;
}

export interface VaeEncodePayload {
  vae: SdVae;
  /** IMAGE `[B, H, W, C]` in 0..1. */
  image: Tensor;
}
export interface VaeEncodeResult {
  samples: Tensor;
}

export interface FreeResult {
  /** Checkpoint ids whose weights and sessions were released. */
  released: string[];
}

export interface ModelCacheStats {
  budgetBytes: number;
  usedBytes: number;
  models: { key: string; path: string; pins: number; bytes: number; graphs: OpenGraph[] }[];
}

/** The SD family's part of the runtime task map (src/runtime/task-map.ts). */
export interface SdTasks {
  'sd.loadCheckpoint': TaskSpec<LoadCheckpointPayload, LoadCheckpointResult>;
  'sd.encodeText': TaskSpec<EncodeTextPayload, EncodeTextResult>;
  'sd.sample': TaskSpec<SamplePayload, SampleResult>;
  'sd.vaeDecode': TaskSpec<VaeDecodePayload, VaeDecodeResult>;
  'sd.vaeEncode': TaskSpec<VaeEncodePayload, VaeEncodeResult>;
  'sd.free': TaskSpec<Record<string, never>, FreeResult>;
  'sd.debugModels': TaskSpec<Record<string, never>, ModelCacheStats>;
}
