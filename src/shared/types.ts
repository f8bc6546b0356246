/** Value types every layer shares: tensors, latents and the service's folders. */

export interface DataDirs {
  root: string;
  input: string;
  output: string;
  temp: string;
  user: string;
  /** Model folders by ComfyUI folder name: checkpoints, concepts, … (first entry is the write target). */
  models: Record<string, string[]>;
}

/** Float32 tensor, row-major. IMAGE is [B,H,W,C] in 0..1; MASK is [B,H,W]; LATENT samples are [B,4,h,w]. */
export interface Tensor {
  data: Float32Array;
  shape: number[];
}

export interface Latent {
  samples: Tensor;
  /** Optional per-latent noise mask (ComfyUI `noise_mask`). */
  noiseMask?: Tensor;
}
