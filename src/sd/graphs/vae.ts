/**
 * The SD1 AutoencoderKL ("kl-f8") encoder and decoder as ONNX graphs, SD1_SPEC §3.1: GroupNorm eps
 * 1e-6 everywhere, ResBlocks without a time embedding, downsampling with right/bottom-only zero
 * padding then a stride-2 3×3 conv, a single-head mid-block attention (1×1-conv q/k/v/proj_out kept
 * 4-D as LDM stores them), decoder levels visited `up.3 … up.0` (LDM index order).
 *
 * The latent scaling factor (0.18215) is *not* applied inside: the pipeline multiplies after encoding
 * and divides before decoding (SD1_SPEC §8.3).
 */
import { Builder, type Value } from '../../onnx/index.js';
import type { SD1Config, VAEConfig } from '../config.js';
import { ioDtype, Net, toCompute } from './layers.js';
import type { GraphDType, Weights } from './weights.js';

export const VAE_KEY_PREFIX = 'first_stage_model.';

/** The decoder's weights: `post_quant_conv` and `decoder.*` (what maps a latent to pixels). */
export function isVaeDecoderKey(key: string): boolean {
  return key.startsWith(`${VAE_KEY_PREFIX}decoder.`) || key.startsWith(`${VAE_KEY_PREFIX}post_quant_conv.`);
}
/** SD1's latent scaling factor: z = 0.18215 · sample(posterior); decoder input = z / 0.18215. */
export const SD1_VAE_SCALING_FACTOR = 0.18215;

export const VAE_ENCODER_INPUT = 'sample';
export const VAE_ENCODER_OUTPUTS = { mean: 'mean', logvar: 'logvar' } as const;
export const VAE_DECODER_INPUT = 'latent_sample';
export const VAE_DECODER_OUTPUT = 'sample';

const EPS = 1e-6;

export interface VaeGraphOptions {
  batch: number;
  /** Encoder: image height/width in pixels. Decoder: latent height/width. */
  height: number;
  width: number;
  dtype?: GraphDType;
  /** Batch, height and width symbolic in the written model (one model for every size). */
  sizeAgnostic?: boolean;
}

function vaeBlocks(net: Net, v: VAEConfig) {
  const { b } = net;
  const groups = v.normGroups;
  const resBlock = (module: string, h: Value, cout: number) =>
    net.in(module, () => {
      let y = net.conv(net.silu(net.groupNorm(h, 'norm1', groups, EPS)), 'conv1');
      y = net.conv(net.silu(net.groupNorm(y, 'norm2', groups, EPS)), 'conv2');
      const skip = h.shape[1] === cout ? h : net.conv(h, 'nin_shortcut');
      return b.add(skip, y, 'out');
    });
  const attention = (module: string, h: Value) =>
    net.in(module, () => {
      const u = net.groupNorm(h, 'norm', groups, EPS);
      const tokens = (name: string) => net.toTokens(net.conv(u, name));
      const o = net.attention(tokens('q'), tokens('k'), tokens('v'), 1);
      return b.add(net.conv(net.fromTokens(o, u), 'proj_out'), h, 'out');
    });
  const mid = (module: string, h: Value) =>
    net.in(module, () =>
      resBlock('block_2', attention('attn_1', resBlock('block_1', h, h.shape[1])), h.shape[1]),
    );
  return { resBlock, mid };
}

function checkImageSize(v: VAEConfig, height: number, width: number, what: 'image' | 'latent'): void {
  const factor = what === 'image' ? 2 ** (v.channelMult.length - 1) : 1;
  for (const [name, s] of [
    ['height', height],
    ['width', width],
  ] as const) {
    if (!Number.isInteger(s) || s <= 0 || s % factor !== 0)
      throw new Error(`VAE ${what} ${name} must be a positive multiple of ${factor}, got ${s}`);
  }
}

/**
 * The encoder body on a value already in the graph: image [B, 3, H, W] in the compute dtype →
 * the posterior moments [B, 2·latent, H/f, W/f] (mean channels first, then the unclamped logvar).
 */
export function vaeEncoderForward(net: Net, v: VAEConfig, image: Value): Value {
  return net.b.scope(VAE_KEY_PREFIX.slice(0, -1), () => {
    const { resBlock, mid } = vaeBlocks(net, v);
    const h = net.in('encoder', () => {
      let x = net.conv(image, 'conv_in');
      const levels = v.channelMult.length;
      for (let level = 0; level < levels; level++) {
        const width = v.baseChannels * v.channelMult[level];
        for (let r = 0; r < v.numResBlocks; r++) x = resBlock(`down.${level}.block.${r}`, x, width);
        if (level !== levels - 1) {
          // Right/bottom-only zero padding, then a stride-2 conv without padding.
          x = net.conv(x, `down.${level}.downsample.conv`, { stride: 2, pads: [0, 0, 1, 1] });
        }
      }
      x = mid('mid', x);
      return net.conv(net.silu(net.groupNorm(x, 'norm_out', v.normGroups, EPS)), 'conv_out');
    });
    return net.conv(h, 'quant_conv');
  });
}

/** The decoder body: z [B, latent, h, w] (already divided by the scaling factor) → image [B, 3, f·h, f·w]. */
export function vaeDecoderForward(net: Net, v: VAEConfig, z: Value): Value {
  const { b } = net;
  return b.scope(VAE_KEY_PREFIX.slice(0, -1), () => {
    const { resBlock, mid } = vaeBlocks(net, v);
    const post = net.conv(z, 'post_quant_conv');
    return net.in('decoder', () => {
      let x = mid('mid', net.conv(post, 'conv_in'));
      for (let level = v.channelMult.length - 1; level >= 0; level--) {
        const width = v.baseChannels * v.channelMult[level];
        for (let r = 0; r <= v.numResBlocks; r++) x = resBlock(`up.${level}.block.${r}`, x, width);
        if (level !== 0) {
          const module = `up.${level}.upsample`;
          x = net.conv(
            b.scope(module, () => b.upsampleNearest2x(x)),
            `${module}.conv`,
          );
        }
      }
      return net.conv(net.silu(net.groupNorm(x, 'norm_out', v.normGroups, EPS)), 'conv_out');
    });
  });
}

/**
 * sample [B, 3, H, W] in −1..1 → mean, logvar [B, 4, H/8, W/8]: the diagonal Gaussian posterior
 * (logvar clamped to [−30, 20] as LDM does). Sampling (mean + exp(logvar/2)·ε) happens outside so the
 * noise can come from the pipeline's torch-compatible generator.
 */
export function buildVaeEncoderGraph(config: SD1Config, weights: Weights, opts: VaeGraphOptions): Builder {
  const v = config.vae;
  const dtype = opts.dtype ?? 'float32';
  checkImageSize(v, opts.height, opts.width, 'image');
  const io = ioDtype(dtype);
  const b = new Builder('sd1_vae_encoder');
  const image = b.input(VAE_ENCODER_INPUT, io, [opts.batch, v.inChannels, opts.height, opts.width]);
  const net = new Net(b, weights, dtype);
  const moments = vaeEncoderForward(net, v, toCompute(net, image));
  const lc = v.latentChannels;
  const [mean, rawLogvar] = b.split(b.cast(moments, io), [lc, lc], 1, 'moments');
  const lo = b.scalar(-30, io);
  const hi = b.scalar(20, io);
  const logvar = b.emit1(
    'Clip',
    [rawLogvar, lo, hi],
    { dtype: io, shape: rawLogvar.shape },
    {},
    'logvar_clamped',
  );
  const outs = [b.output(mean, VAE_ENCODER_OUTPUTS.mean), b.output(logvar, VAE_ENCODER_OUTPUTS.logvar)];
  if (opts.sizeAgnostic) {
    b.symbolic(image, ['batch', undefined, 'height', 'width']);
    for (const o of outs) b.symbolic(o, ['batch', undefined, 'latent_height', 'latent_width']);
  }
  return b;
}

/** latent_sample [B, 4, h, w] (already divided by 0.18215) → sample [B, 3, 8h, 8w] in ≈ −1..1. */
export function buildVaeDecoderGraph(config: SD1Config, weights: Weights, opts: VaeGraphOptions): Builder {
  const v = config.vae;
  const dtype = opts.dtype ?? 'float32';
  checkImageSize(v, opts.height, opts.width, 'latent');
  const io = ioDtype(dtype);
  const b = new Builder('sd1_vae_decoder');
  const z = b.input(VAE_DECODER_INPUT, io, [opts.batch, v.latentChannels, opts.height, opts.width]);
  const net = new Net(b, weights, dtype);
  const image = vaeDecoderForward(net, v, toCompute(net, z));
  const out = b.output(b.cast(image, io), VAE_DECODER_OUTPUT);
  if (opts.sizeAgnostic) {
    b.symbolic(z, ['batch', undefined, 'height', 'width']);
    b.symbolic(out, ['batch', undefined, 'image_height', 'image_width']);
  }
  return b;
}
