/**
 * Every tensor an SD1-architecture checkpoint holds, by canonical LDM key, for a given config.
 * The inverse of config inference: the loader checks a file against this table (missing tensors,
 * wrong shapes) and the tiny-model generator writes exactly these tensors.
 */
import type { SD1Config, TextEncoderConfig, UNetConfig, VAEConfig } from '../config.js';

export const UNET_PREFIX = 'model.diffusion_model.';
export const VAE_PREFIX = 'first_stage_model.';
export const TEXT_PREFIX = 'cond_stage_model.transformer.text_model.';

export type SubModel = 'unet' | 'vae' | 'text';

export function subModelOf(canonicalKey: string): SubModel | undefined {
  if (canonicalKey.startsWith(UNET_PREFIX)) return 'unet';
  if (canonicalKey.startsWith(VAE_PREFIX)) return 'vae';
  if (canonicalKey.startsWith(TEXT_PREFIX)) return 'text';
  return undefined;
}

type Shapes = Map<string, number[]>;

/** Canonical key → shape for the UNet, VAE and text encoder, in SD1's module order. */
export function sd1TensorShapes(config: SD1Config): Shapes {
  const out: Shapes = new Map();
  unetShapes(config.unet, out);
  vaeShapes(config.vae, out);
  textShapes(config.text, out);
  return out;
}

function add(out: Shapes, prefix: string, name: string, shape: number[]): void {
  out.set(prefix + name, shape);
}

function norm(out: Shapes, p: string, c: number): void {
  add(out, p, '.weight', [c]);
  add(out, p, '.bias', [c]);
}

function conv(out: Shapes, p: string, cout: number, cin: number, k: number): void {
  add(out, p, '.weight', [cout, cin, k, k]);
  add(out, p, '.bias', [cout]);
}

function linear(out: Shapes, p: string, cout: number, cin: number, bias = true): void {
  add(out, p, '.weight', [cout, cin]);
  if (bias) add(out, p, '.bias', [cout]);
}

export function unetShapes(u: UNetConfig, out: Shapes = new Map()): Shapes {
  const P = UNET_PREFIX;
  const T = u.timeEmbedDim;
  const mc = u.modelChannels;
  linear(out, `${P}time_embed.0`, T, mc);
  linear(out, `${P}time_embed.2`, T, T);
  conv(out, `${P}input_blocks.0.0`, mc, u.inChannels, 3);

  const res = (p: string, cin: number, cout: number) => {
    norm(out, `${p}.in_layers.0`, cin);
    conv(out, `${p}.in_layers.2`, cout, cin, 3);
    linear(out, `${p}.emb_layers.1`, cout, T);
    norm(out, `${p}.out_layers.0`, cout);
    conv(out, `${p}.out_layers.3`, cout, cout, 3);
    if (cin !== cout) conv(out, `${p}.skip_connection`, cout, cin, 1);
  };
  const transformer = (p: string, c: number) => {
    norm(out, `${p}.norm`, c);
    conv(out, `${p}.proj_in`, c, c, 1);
    for (let d = 0; d < u.transformerDepth; d++) {
      const b = `${p}.transformer_blocks.${d}`;
      linear(out, `${b}.attn1.to_q`, c, c, false);
      linear(out, `${b}.attn1.to_k`, c, c, false);
      linear(out, `${b}.attn1.to_v`, c, c, false);
      linear(out, `${b}.attn1.to_out.0`, c, c);
      linear(out, `${b}.ff.net.0.proj`, 8 * c, c);
      linear(out, `${b}.ff.net.2`, c, 4 * c);
      linear(out, `${b}.attn2.to_q`, c, c, false);
      linear(out, `${b}.attn2.to_k`, c, u.contextDim, false);
      linear(out, `${b}.attn2.to_v`, c, u.contextDim, false);
      linear(out, `${b}.attn2.to_out.0`, c, c);
      norm(out, `${b}.norm1`, c);
      norm(out, `${b}.norm2`, c);
      norm(out, `${b}.norm3`, c);
    }
    conv(out, `${p}.proj_out`, c, c, 1);
  };

  const levels = u.channelMult.length;
  const skips: number[] = [mc];
  let ch = mc;
  let block = 0;
  for (let level = 0; level < levels; level++) {
    const width = mc * u.channelMult[level];
    for (let j = 0; j < u.numResBlocks; j++) {
      block++;
      res(`${P}input_blocks.${block}.0`, ch, width);
      if (u.attentionLevels[level]) transformer(`${P}input_blocks.${block}.1`, width);
      ch = width;
      skips.push(ch);
    }
    if (level < levels - 1) {
      block++;
      conv(out, `${P}input_blocks.${block}.0.op`, ch, ch, 3);
      skips.push(ch);
    }
  }
  res(`${P}middle_block.0`, ch, ch);
  transformer(`${P}middle_block.1`, ch);
  res(`${P}middle_block.2`, ch, ch);

  let k = 0;
  for (let level = levels - 1; level >= 0; level--) {
    const width = mc * u.channelMult[level];
    for (let j = 0; j <= u.numResBlocks; j++) {
      const skip = skips.pop()!;
      res(`${P}output_blocks.${k}.0`, ch + skip, width);
      ch = width;
      const attn = u.attentionLevels[level];
      if (attn) transformer(`${P}output_blocks.${k}.1`, width);
      if (level > 0 && j === u.numResBlocks)
        conv(out, `${P}output_blocks.${k}.${attn ? 2 : 1}.conv`, ch, ch, 3);
      k++;
    }
  }
  norm(out, `${P}out.0`, ch);
  conv(out, `${P}out.2`, u.outChannels, ch, 3);
  return out;
}

export function vaeShapes(v: VAEConfig, out: Shapes = new Map()): Shapes {
  const P = VAE_PREFIX;
  const levels = v.channelMult.length;
  const res = (p: string, cin: number, cout: number) => {
    norm(out, `${p}.norm1`, cin);
    conv(out, `${p}.conv1`, cout, cin, 3);
    norm(out, `${p}.norm2`, cout);
    conv(out, `${p}.conv2`, cout, cout, 3);
    if (cin !== cout) conv(out, `${p}.nin_shortcut`, cout, cin, 1);
  };
  const mid = (p: string, c: number) => {
    res(`${p}.block_1`, c, c);
    norm(out, `${p}.attn_1.norm`, c);
    for (const name of ['q', 'k', 'v', 'proj_out']) conv(out, `${p}.attn_1.${name}`, c, c, 1);
    res(`${p}.block_2`, c, c);
  };

  const base = v.baseChannels;
  conv(out, `${P}encoder.conv_in`, base, v.inChannels, 3);
  let ch = base;
  for (let i = 0; i < levels; i++) {
    const width = base * v.channelMult[i];
    for (let j = 0; j < v.numResBlocks; j++) {
      res(`${P}encoder.down.${i}.block.${j}`, ch, width);
      ch = width;
    }
    if (i < levels - 1) conv(out, `${P}encoder.down.${i}.downsample.conv`, ch, ch, 3);
  }
  mid(`${P}encoder.mid`, ch);
  norm(out, `${P}encoder.norm_out`, ch);
  conv(out, `${P}encoder.conv_out`, 2 * v.latentChannels, ch, 3);

  ch = base * v.channelMult[levels - 1];
  conv(out, `${P}decoder.conv_in`, ch, v.latentChannels, 3);
  mid(`${P}decoder.mid`, ch);
  for (let i = levels - 1; i >= 0; i--) {
    const width = base * v.channelMult[i];
    for (let j = 0; j <= v.numResBlocks; j++) {
      res(`${P}decoder.up.${i}.block.${j}`, ch, width);
      ch = width;
    }
    if (i > 0) conv(out, `${P}decoder.up.${i}.upsample.conv`, ch, ch, 3);
  }
  norm(out, `${P}decoder.norm_out`, ch);
  conv(out, `${P}decoder.conv_out`, v.outChannels, ch, 3);
  conv(out, `${P}quant_conv`, 2 * v.latentChannels, 2 * v.latentChannels, 1);
  conv(out, `${P}post_quant_conv`, v.latentChannels, v.latentChannels, 1);
  return out;
}

export function textShapes(t: TextEncoderConfig, out: Shapes = new Map()): Shapes {
  const P = TEXT_PREFIX;
  add(out, P, 'embeddings.token_embedding.weight', [t.vocabSize, t.width]);
  add(out, P, 'embeddings.position_embedding.weight', [t.maxPositions, t.width]);
  for (let i = 0; i < t.layers; i++) {
    const p = `${P}encoder.layers.${i}`;
    for (const name of ['q_proj', 'k_proj', 'v_proj', 'out_proj'])
      linear(out, `${p}.self_attn.${name}`, t.width, t.width);
    norm(out, `${p}.layer_norm1`, t.width);
    norm(out, `${p}.layer_norm2`, t.width);
    linear(out, `${p}.mlp.fc1`, t.mlpDim, t.width);
    linear(out, `${p}.mlp.fc2`, t.width, t.mlpDim);
  }
  norm(out, `${P}final_layer_norm`, t.width);
  return out;
}

export function countParameters(shapes: Iterable<number[]>): number {
  let n = 0;
  for (const s of shapes) n += s.reduce((a, b) => a * b, 1);
  return n;
}
