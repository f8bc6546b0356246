/**
 * The values SD nodes pass along their sockets (MODEL, CLIP, VAE, CONDITIONING). They are small,
 * structured-clone-safe descriptions: the weights and sessions stay in the runtime worker, keyed by the
 * checkpoint handle. Like ComfyUI's ModelPatcher, a MODEL is non-destructive: "patching" returns a new
 * value with a longer `patches` list and never touches the base checkpoint.
 */
import type { Tensor } from '../../shared/types.js';

/** What `sd.loadCheckpoint` returns: enough for any worker to (re)load the same weights. */
export interface CheckpointHandle {
  /** Stable id of the loaded weights (derived from the fingerprint). */
  id: string;
  /** Absolute path of the checkpoint file; a worker that evicted the model reloads from here. */
  path: string;
  /** Content fingerprint of the base model (concept files are tied to it). */
  fingerprint: string;
  /** Short, JSON-safe summary of the inferred SD1 configuration. */
  config: CheckpointSummary;
  /** Where the worker keeps this model's built ONNX graphs (default: the worker's setting). */
  graphCacheDir?: string;
}

export interface CheckpointSummary {
  /** UNet base width (320 for SD1.x). */
  modelChannels: number;
  /** CLIP hidden width = cross-attention context width (768 for SD1.x). */
  contextDim: number;
  latentChannels: number;
  /** Number of tensors and their total parameter count. */
  tensorCount: number;
  parameterCount: number;
  /** Storage dtype(s) found in the file, e.g. "F16" or "F32". */
  dtype: string;
}

/**
 * Shuts K/V weight entries (Cones concept neurons): w ← w·(1 − strength) at the listed flat indices.
 * Keys are canonical LDM weight names (`model.diffusion_model.…attn2.to_k.weight`); indices are
 * row-major `[out, in]` flat indices into that weight.
 */
export interface KvMaskPatch {
  kind: 'cones.kv-mask';
  /** Human-readable origin (concept identifier), for logs and errors. */
  label?: string;
  /** Fingerprint of the model the concept was made on; must equal the MODEL's fingerprint. */
  fingerprint?: string;
  indicesByKey: Record<string, Uint32Array>;
  /** 1 shuts the neurons fully, 0 leaves them unchanged. */
  strength: number;
}

export type ModelPatch = KvMaskPatch;

/** MODEL socket value. */
export interface SdModel {
  kind: 'sd1.model';
  checkpoint: CheckpointHandle;
  /** Applied in order when the UNet runs; empty for the plain checkpoint. */
  patches: readonly ModelPatch[];
}

/** CLIP socket value. */
export interface SdClip {
  kind: 'sd1.clip';
  checkpoint: CheckpointHandle;
}

/** VAE socket value. */
export interface SdVae {
  kind: 'sd1.vae';
  checkpoint: CheckpointHandle;
}

/**
 * CONDITIONING socket value: a list of entries like ComfyUI's `[[cond, {...}], …]`. Each entry holds the
 * text encoder's hidden states `[1, 77·k, D]`. SD1 has no pooled output that the UNet uses.
 */
export type Conditioning = ConditioningEntry[];

export interface ConditioningEntry {
  embedding: Tensor;
  /** The prompt text it came from (for logs / debugging only). */
  text?: string;
}

export function modelFromCheckpoint(checkpoint: CheckpointHandle): SdModel {
  return { kind: 'sd1.model', checkpoint, patches: [] };
}

/** A new MODEL value with one more patch; the input value is left untouched (ComfyUI `clone()` + add). */
export function withPatch(model: SdModel, patch: ModelPatch): SdModel {
  return { ...model, patches: [...model.patches, patch] };
}

export function isSdModel(value: unknown): value is SdModel {
  return typeof value === 'object' && value !== null && (value as SdModel).kind === 'sd1.model';
}

export function isSdClip(value: unknown): value is SdClip {
  return typeof value === 'object' && value !== null && (value as SdClip).kind === 'sd1.clip';
}

export function isSdVae(value: unknown): value is SdVae {
  return typeof value === 'object' && value !== null && (value as SdVae).kind === 'sd1.vae';
}
