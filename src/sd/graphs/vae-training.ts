/**
 * The SD1 autoencoder's training graph: LDM's `AutoencoderKL` objective without the perceptual and
 * adversarial terms. Every VAE weight is a graph input named by its canonical key.
 *
 *   mean, logvar = E(x);  z = mean + exp(logvar/2)·n;  x̂ = D(z)
 *   rec  = Σ|x − x̂| / (B·3·H·W)                                  (L1, per pixel value; or Σ(x − x̂)²)
 *   kl   = Σ ½(mean² + exp(logvar) − 1 − logvar) / (B·3·H·W)
 *   loss = rec + klWeight · kl
 *
 * This is LDM's loss (per-sample sums, batch mean, kl_weight 1e-6) divided by the constant 3·H·W,
 * so the numbers read as per-pixel errors. logvar is not clamped here (LDM's [−30, 20] clamp only
 * acts on a diverged encoder; the inference encoder still clamps).
 */
import { Builder, grad, type Value } from '../../onnx/index.js';
import type { SD1Config } from '../config.js';
import { Net } from './layers.js';
import { MODEL_TRAINING_LOSS, type TrainingGraph, weightGradName } from './unet-training.js';
import { isVaeDecoderKey, VAE_KEY_PREFIX, vaeDecoderForward, vaeEncoderForward } from './vae.js';
import type { Weights } from './weights.js';

export const VAE_TRAINING_INPUTS = { image: 'image', noise: 'noise' } as const;
export const VAE_TRAINING_OUTPUTS = { loss: MODEL_TRAINING_LOSS, rec: 'rec_loss', kl: 'kl_loss' } as const;
/** LDM's kl_weight for the kl-f8 autoencoder. */
export const LDM_KL_WEIGHT = 1e-6;
export const VAE_RECONSTRUCTION_LOSSES = ['l1', 'mse'] as const;
export type VaeReconstructionLoss = (typeof VAE_RECONSTRUCTION_LOSSES)[number];

export interface VaeTrainingGraphOptions {
  batch: number;
  /** Image height and width in pixels (multiples of the VAE's downsampling factor). */
  height: number;
  width: number;
  /** Weight of the KL term (default LDM's 1e-6). */
  klWeight?: number;
  /**
   * Weight of an L1 term on horizontal and vertical pixel differences (0 = LDM's loss). Plain L1 lets a small
   * decoder average fine texture and sharp corners away; differences penalise exactly those.
   */
  edgeWeight?: number;
  /**
   * The reconstruction term (default 'l1', LDM's). Under uncertainty L1 is minimised by the median and
   * squared error by the mean: texture whose phase the decoder cannot tell (dots covering a third of a
   * cell) vanishes under L1 and stays as a blur under squared error (Stability's ft-MSE decoder used it).
   */
  reconstruction?: VaeReconstructionLoss;
  /**
   * Train the decoder only (default false): the encoder and quant_conv become constants, so the latent
   * space a UNet was trained on stays exactly as it is (as Stability's ft-EMA / ft-MSE VAEs were made).
   */
  decoderOnly?: boolean;
}

/**
 * Inputs: image [B, 3, H, W] in −1..1, noise [B, latent, H/f, W/f] (the posterior sample's ε), one
 * input per trained VAE weight. Outputs: loss, rec_loss, kl_loss [] and `grad.<key>` per weight.
 */
export function buildVaeTrainingGraph(
  config: SD1Config,
  weights: Weights,
  opts: VaeTrainingGraphOptions,
): TrainingGraph {
  const v = config.vae;
  const factor = 2 ** (v.channelMult.length - 1);
  for (const s of [opts.height, opts.width])
    if (!Number.isInteger(s) || s <= 0 || s % factor !== 0)
      throw new Error(`VAE training image size must be a positive multiple of ${factor}, got ${s}`);
  const B = opts.batch;
  const lc = v.latentChannels;
  const b = new Builder('sd1_vae_training');
  const x = b.input(VAE_TRAINING_INPUTS.image, 'float32', [B, v.inChannels, opts.height, opts.width]);
  const n = b.input(VAE_TRAINING_INPUTS.noise, 'float32', [B, lc, opts.height / factor, opts.width / factor]);
  const trained = opts.decoderOnly ? isVaeDecoderKey : (key: string) => key.startsWith(VAE_KEY_PREFIX);
  const net = new Net(b, weights, 'float32', undefined, trained);
  const moments = vaeEncoderForward(net, v, x);
  const [mean, logvar] = b.split(moments, [lc, lc], 1, 'moments');
  const z = b.scope('posterior', () => b.add(mean, b.mul(b.exp(b.mul(logvar, 0.5)), n), 'z'));
  const xr = vaeDecoderForward(net, v, z);
  const perValue = 1 / (B * v.inChannels * opts.height * opts.width);
  const all = (t: typeof x) => t.shape.map((_, i) => i);
  const rec = b.scope('rec', () => {
    const d = b.sub(xr, x, 'error');
    const e = opts.reconstruction === 'mse' ? b.mul(d, d) : b.abs(d);
    return b.mul(b.reduceSum(e, all(e), false), perValue, opts.reconstruction ?? 'l1');
  });
  const kl = b.scope('kl', () => {
    const terms = b.sub(b.sub(b.add(b.mul(mean, mean), b.exp(logvar)), 1), logvar, 'terms');
    return b.mul(b.reduceSum(terms, all(terms), false), 0.5 * perValue, 'kl');
  });
  let loss = b.add(rec, b.mul(kl, opts.klWeight ?? LDM_KL_WEIGHT), 'loss_total');
  if (opts.edgeWeight) {
    const edge = b.scope('edge', () => edgeL1(b, xr, x));
    loss = b.add(loss, b.mul(edge, opts.edgeWeight), 'loss_with_edges');
  }
  b.output(rec, VAE_TRAINING_OUTPUTS.rec);
  b.output(kl, VAE_TRAINING_OUTPUTS.kl);
  const keys = [...net.weightInputs.keys()];
  grad(b, loss, [...net.weightInputs.values()], {
    names: keys.map(weightGradName),
    lossName: MODEL_TRAINING_LOSS,
  });
  return { builder: b, kvKeys: [], trainableKeys: keys };
}

/** Mean absolute difference of neighbouring-pixel differences (along W and along H) between `xr` and `x`. */
function edgeL1(b: Builder, xr: Value, x: Value): Value {
  const [B, C, H, W] = x.shape;
  const diff = (t: Value, axis: number, n: number) =>
    b.sub(b.slice(t, [1], [n], [axis]), b.slice(t, [0], [n - 1], [axis]));
  const term = (axis: number, n: number) => {
    const e = b.abs(b.sub(diff(xr, axis, n), diff(x, axis, n)));
    return b.mul(b.reduceSum(e, [0, 1, 2, 3], false), 1 / (B * C * H * W));
  };
  return b.add(term(3, W), term(2, H), 'edge_l1');
}
