/**
 * Initial weights for training from scratch: the tiny-model generator's seeded values (so frozen
 * CLIP is exactly `make-tiny-model`'s), with LDM's `zero_module` outputs zeroed in the UNet — each
 * ResBlock's last conv, each transformer's proj_out and the final conv — so every block starts as
 * the identity and the untrained UNet predicts ε̂ = 0.
 */
import { sd1TensorShapes } from '../sd/checkpoint/sd1-tensors.js';
import type { SD1Config } from '../sd/config.js';
import { initTensor } from '../sd/tiny-model.js';

export interface TensorSet {
  readonly shapes: ReadonlyMap<string, readonly number[]>;
  readonly values: Map<string, Float32Array>;
}

const ZERO_INIT = /^model\.diffusion_model\.(.*\.out_layers\.3|.*\.proj_out|out\.2)\.(weight|bias)$/;

export function initialWeights(config: SD1Config, seed: number): TensorSet {
  const shapes = sd1TensorShapes(config);
  const values = new Map<string, Float32Array>();
  for (const [key, shape] of shapes)
    values.set(
      key,
      ZERO_INIT.test(key) ? new Float32Array(shape.reduce((a, b) => a * b, 1)) : initTensor(key, shape, seed),
    );
  return { shapes, values };
}
