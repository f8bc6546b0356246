/**
 * Recognise what a checkpoint is from its key names and a few shapes (SD1_SPEC §2.6), so a file of
 * another family is refused by name ("this is an SDXL checkpoint") instead of failing deep inside
 * config inference.
 */
import type { ShapeTable } from './infer-config.js';

export interface ForeignModel {
  /** Short family name, e.g. "SDXL", "SD2.x", "LoRA". */
  family: string;
  /** What gave it away (the key pattern or shape). */
  evidence: string;
}

function firstKey(keys: readonly string[], test: (k: string) => boolean): string | undefined {
  return keys.find(test);
}

/**
 * Identify a single-file checkpoint that is *not* SD1; undefined when it looks like SD1 (the
 * loader's shape check then decides whether it is complete).
 */
export function detectForeignSingleFile(shapes: ShapeTable): ForeignModel | undefined {
  const keys = [...shapes.keys()];
  const hit = (family: string, pattern: RegExp, what = 'has keys like'): ForeignModel | undefined => {
    const key = firstKey(keys, (k) => pattern.test(k));
    return key ? { family, evidence: `${what} "${key}"` } : undefined;
  };
  const found =
    hit('SDXL', /^conditioner\.embedders\./) ??
    hit('SD3', /^(model\.diffusion_model\.)?joint_blocks\./) ??
    hit('Flux', /^(model\.diffusion_model\.)?(double_blocks|single_blocks)\./) ??
    hit('Stable Cascade', /^(down_blocks|up_blocks)\.\d+\.\d+\.channelwise\./) ??
    hit('LoRA / LyCORIS', /(^lora_(unet|te)_|\.lora_(down|up|A|B)\.|\.hada_w1_a$|\.lokr_w1$)/) ??
    hit('SD2.x (OpenCLIP text encoder)', /^cond_stage_model\.model\./) ??
    hit('a class- or image-conditioned UNet (SDXL / SD2 unCLIP)', /^model\.diffusion_model\.label_emb\./) ??
    hit('PixArt / DiT', /^(model\.diffusion_model\.)?(blocks\.\d+\.attn|x_embedder\.)/);
  if (found) return found;

  const attn2 = shapes.get('model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight');
  if (attn2 && attn2[1] === 1024)
    return { family: 'SD2.x', evidence: 'cross-attention width 1024 (SD1: 768)' };
  const projIn = shapes.get('model.diffusion_model.input_blocks.1.1.proj_in.weight');
  if (projIn && projIn.length === 2) {
    return {
      family: 'SD2.x',
      evidence: 'transformers use linear proj_in (use_linear_projection, SD1 uses 1×1 convs)',
    };
  }

  const hasUnet = keys.some(
    (k) => k.startsWith('model.diffusion_model.') || k.startsWith('model_ema.diffusion_model'),
  );
  if (!hasUnet) {
    if (keys.some((k) => k.startsWith('encoder.down.')) && keys.some((k) => k.startsWith('decoder.up.'))) {
      return { family: 'a standalone VAE', evidence: 'only encoder.* / decoder.* keys' };
    }
    if (keys.some((k) => k.startsWith('down_blocks.')) && keys.some((k) => k.startsWith('conv_in.'))) {
      return {
        family: 'a diffusers component file',
        evidence:
          'diffusers-style keys like "down_blocks.*" (open the diffusers folder that holds model_index.json instead)',
      };
    }
    if (keys.some((k) => k.startsWith('text_model.'))) {
      return { family: 'a standalone CLIP text encoder', evidence: 'only text_model.* keys' };
    }
    const sample = keys.slice(0, 3).join('", "');
    return {
      family: 'not a Stable Diffusion checkpoint',
      evidence: `no model.diffusion_model.* keys (first keys: "${sample}")`,
    };
  }
  return undefined;
}

/** Identify a diffusers folder of another family from model_index.json's `_class_name`. */
export function detectForeignDiffusersPipeline(className: string | undefined): ForeignModel | undefined {
  if (!className) return undefined;
  const families: [RegExp, string][] = [
    [/XL/, 'SDXL'],
    [/StableDiffusion3/, 'SD3'],
    [/Flux/, 'Flux'],
    [/Cascade|Wuerstchen/, 'Stable Cascade / Würstchen'],
    [/Kandinsky/, 'Kandinsky'],
    [/PixArt/, 'PixArt'],
    [/Onnx/, 'an ONNX export (this service builds its own graphs from the original weights)'],
    [/UnCLIP/, 'SD2 unCLIP'],
  ];
  for (const [pattern, family] of families) {
    if (pattern.test(className)) return { family, evidence: `model_index.json _class_name "${className}"` };
  }
  return undefined;
}
