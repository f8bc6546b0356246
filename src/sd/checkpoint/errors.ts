import { displayPath } from './display-path.js';

/** One error type for every way a checkpoint can be unusable, with a code callers can branch on. */

export type CheckpointErrorCode =
  /** Not a file format we read (pickle `.ckpt`, `.bin`, GGUF …). */
  | 'unsupported-format'
  /** safetensors header is malformed (bad JSON, dtype, shapes, offsets). */
  | 'corrupt'
  /** File is shorter (or longer) than its header says. */
  | 'truncated'
  /** A readable checkpoint of another model family (SD2, SDXL, SD3, Flux, a LoRA, a lone VAE …). */
  | 'not-sd1'
  /** SD1 layout, but tensors are absent or have unexpected shapes. */
  | 'missing-tensors'
  /** Asked for a tensor the checkpoint does not have. */
  | 'unknown-tensor'
  | 'io';

/**
 * The message names the file by `displayPath` (also where a cause's text, e.g. an ENOENT, quoted the
 * full path): it reaches HTTP clients. `path` keeps the absolute path for logs.
 */
export class CheckpointError extends Error {
  override readonly name = 'CheckpointError';
  constructor(
    readonly code: CheckpointErrorCode,
    message: string,
    readonly path?: string,
  ) {
    super(path ? `${displayPath(path)}: ${message.replaceAll(path, displayPath(path))}` : message);
  }
}
