/**
 * LDM ↔ diffusers key mapping by rule (SD1_SPEC §2.2, §2.4, §2.5), for any number of levels and
 * ResBlocks per level: the tiny model has SD1's structure at other sizes, so the fixed 934-entry
 * table (assets/sd1/ldm_to_diffusers_map.json, which the tests check these rules against) is not
 * enough. Keys here are sub-model keys: UNet keys without `model.diffusion_model.`, VAE keys without
 * `first_stage_model.`, diffusers keys as stored in unet/, vae/ and text_encoder/ files.
 */

/** What a UNet key mapping needs to know that names alone do not say. */
export interface UNetLayout {
  /** ResBlocks per down level (SD1: 2); up levels have one more. */
  numResBlocks: number;
  /** Per diffusers up block (0 = lowest resolution): does it have transformers? (SD1: F, T, T, T). */
  upBlockHasAttention: readonly boolean[];
}

export interface VAELayout {
  /** Resolution levels (SD1: 4). */
  levels: number;
}

const RES_LDM_TO_DIFFUSERS: Record<string, string> = {
  'in_layers.0': 'norm1',
  'in_layers.2': 'conv1',
  'emb_layers.1': 'time_emb_proj',
  'out_layers.0': 'norm2',
  'out_layers.3': 'conv2',
  skip_connection: 'conv_shortcut',
};
const RES_DIFFUSERS_TO_LDM = invert(RES_LDM_TO_DIFFUSERS);

function invert(map: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(map).map(([k, v]) => [v, k]));
}

/** Rename the module part of `rest` (e.g. `in_layers.0.weight`) through `table`; undefined if unknown. */
function renameModule(rest: string, table: Record<string, string>): string | undefined {
  for (const [from, to] of Object.entries(table)) {
    if (rest.startsWith(`${from}.`)) return to + rest.slice(from.length);
  }
  return undefined;
}

// ---------------------------------------------------------------- UNet

export function unetLdmToDiffusers(key: string, layout: UNetLayout): string | undefined {
  let m: RegExpMatchArray | null;
  const L = layout.numResBlocks;
  m = key.match(/^time_embed\.([02])\.(.+)$/);
  if (m) return `time_embedding.linear_${m[1] === '0' ? 1 : 2}.${m[2]}`;
  m = key.match(/^input_blocks\.0\.0\.(.+)$/);
  if (m) return `conv_in.${m[1]}`;
  m = key.match(/^out\.([02])\.(.+)$/);
  if (m) return `${m[1] === '0' ? 'conv_norm_out' : 'conv_out'}.${m[2]}`;
  m = key.match(/^input_blocks\.(\d+)\.0\.op\.(.+)$/);
  if (m) {
    const i = Number(m[1]);
    if (i % (L + 1) !== 0) return undefined;
    return `down_blocks.${i / (L + 1) - 1}.downsamplers.0.conv.${m[2]}`;
  }
  m = key.match(/^input_blocks\.(\d+)\.([01])\.(.+)$/);
  if (m) {
    const i = Number(m[1]) - 1;
    const block = Math.floor(i / (L + 1));
    const j = i % (L + 1);
    if (i < 0 || j >= L) return undefined;
    if (m[2] === '0') {
      const rest = renameModule(m[3], RES_LDM_TO_DIFFUSERS);
      return rest && `down_blocks.${block}.resnets.${j}.${rest}`;
    }
    return `down_blocks.${block}.attentions.${j}.${m[3]}`;
  }
  m = key.match(/^middle_block\.([012])\.(.+)$/);
  if (m) {
    if (m[1] === '1') return `mid_block.attentions.0.${m[2]}`;
    const rest = renameModule(m[2], RES_LDM_TO_DIFFUSERS);
    return rest && `mid_block.resnets.${m[1] === '0' ? 0 : 1}.${rest}`;
  }
  m = key.match(/^output_blocks\.(\d+)\.([012])\.(.+)$/);
  if (m) {
    const k = Number(m[1]);
    const block = Math.floor(k / (L + 1));
    const j = k % (L + 1);
    if (m[2] === '0') {
      const rest = renameModule(m[3], RES_LDM_TO_DIFFUSERS);
      return rest && `up_blocks.${block}.resnets.${j}.${rest}`;
    }
    // `.1.` is the transformer, or the upsampler where the level has no transformer; `.2.` the upsampler.
    if (m[3].startsWith('conv.')) {
      if (j !== L) return undefined;
      return `up_blocks.${block}.upsamplers.0.${m[3]}`;
    }
    if (m[2] !== '1') return undefined;
    return `up_blocks.${block}.attentions.${j}.${m[3]}`;
  }
  return undefined;
}

export function unetDiffusersToLdm(key: string, layout: UNetLayout): string | undefined {
  let m: RegExpMatchArray | null;
  const L = layout.numResBlocks;
  m = key.match(/^time_embedding\.linear_([12])\.(.+)$/);
  if (m) return `time_embed.${m[1] === '1' ? 0 : 2}.${m[2]}`;
  m = key.match(/^conv_in\.(.+)$/);
  if (m) return `input_blocks.0.0.${m[1]}`;
  m = key.match(/^conv_norm_out\.(.+)$/);
  if (m) return `out.0.${m[1]}`;
  m = key.match(/^conv_out\.(.+)$/);
  if (m) return `out.2.${m[1]}`;
  m = key.match(/^down_blocks\.(\d+)\.resnets\.(\d+)\.(.+)$/);
  if (m) {
    const rest = renameModule(m[3], RES_DIFFUSERS_TO_LDM);
    return rest && `input_blocks.${1 + Number(m[1]) * (L + 1) + Number(m[2])}.0.${rest}`;
  }
  m = key.match(/^down_blocks\.(\d+)\.attentions\.(\d+)\.(.+)$/);
  if (m) {
    return `input_blocks.${1 + Number(m[1]) * (L + 1) + Number(m[2])}.1.${m[3]}`;
  }
  m = key.match(/^down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)$/);
  if (m) {
    return `input_blocks.${(Number(m[1]) + 1) * (L + 1)}.0.op.${m[2]}`;
  }
  m = key.match(/^mid_block\.resnets\.([01])\.(.+)$/);
  if (m) {
    const rest = renameModule(m[2], RES_DIFFUSERS_TO_LDM);
    return rest && `middle_block.${m[1] === '0' ? 0 : 2}.${rest}`;
  }
  m = key.match(/^mid_block\.attentions\.0\.(.+)$/);
  if (m) return `middle_block.1.${m[1]}`;
  m = key.match(/^up_blocks\.(\d+)\.resnets\.(\d+)\.(.+)$/);
  if (m) {
    const rest = renameModule(m[3], RES_DIFFUSERS_TO_LDM);
    return rest && `output_blocks.${Number(m[1]) * (L + 1) + Number(m[2])}.0.${rest}`;
  }
  m = key.match(/^up_blocks\.(\d+)\.attentions\.(\d+)\.(.+)$/);
  if (m) {
    return `output_blocks.${Number(m[1]) * (L + 1) + Number(m[2])}.1.${m[3]}`;
  }
  m = key.match(/^up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)$/);
  if (m) {
    const block = Number(m[1]);
    const slot = layout.upBlockHasAttention[block] ? 2 : 1;
    return `output_blocks.${block * (L + 1) + L}.${slot}.conv.${m[2]}`;
  }
  return undefined;
}

/** Read the UNet layout off a set of diffusers UNet keys. */
export function unetLayoutFromDiffusersKeys(keys: Iterable<string>): UNetLayout {
  let maxRes = -1;
  const withAttention = new Set<number>();
  let maxUp = -1;
  for (const key of keys) {
    let m = key.match(/^down_blocks\.0\.resnets\.(\d+)\./);
    if (m) maxRes = Math.max(maxRes, Number(m[1]));
    m = key.match(/^up_blocks\.(\d+)\.(attentions)?/);
    if (m) {
      maxUp = Math.max(maxUp, Number(m[1]));
      if (m[2]) withAttention.add(Number(m[1]));
    }
  }
  return {
    numResBlocks: maxRes + 1,
    upBlockHasAttention: Array.from({ length: maxUp + 1 }, (_, b) => withAttention.has(b)),
  };
}

/** Read the UNet layout off a set of LDM UNet keys (prefix stripped). */
export function unetLayoutFromLdmKeys(keys: Iterable<string>): UNetLayout {
  let firstDown = -1;
  const outputWithAttention = new Set<number>();
  let maxOut = -1;
  const all: string[] = [];
  for (const key of keys) {
    all.push(key);
    let m = key.match(/^input_blocks\.(\d+)\.0\.op\./);
    if (m && (firstDown < 0 || Number(m[1]) < firstDown)) firstDown = Number(m[1]);
    m = key.match(/^output_blocks\.(\d+)\.(\d+)\.(\w+)/);
    if (m) {
      maxOut = Math.max(maxOut, Number(m[1]));
      if (m[2] === '1' && m[3] !== 'conv') outputWithAttention.add(Number(m[1]));
    }
  }
  // One down level: no downsampler; count ResBlocks instead.
  const numResBlocks =
    firstDown > 0
      ? firstDown - 1
      : all.filter((k) => /^input_blocks\.\d+\.0\.in_layers\.0\.weight$/.test(k)).length;
  const perUp = numResBlocks + 1;
  const upBlocks = Math.floor((maxOut + 1) / perUp);
  return {
    numResBlocks,
    upBlockHasAttention: Array.from({ length: upBlocks }, (_, b) => outputWithAttention.has(b * perUp)),
  };
}

// ---------------------------------------------------------------- VAE

const VAE_ATTENTION_DIFFUSERS_TO_LDM: Record<string, string> = {
  group_norm: 'norm',
  to_q: 'q',
  to_k: 'k',
  to_v: 'v',
  'to_out.0': 'proj_out',
  // Older diffusers VAE files (renamed by diffusers at load time).
  query: 'q',
  key: 'k',
  value: 'v',
  proj_attn: 'proj_out',
};
const VAE_ATTENTION_LDM_TO_DIFFUSERS: Record<string, string> = {
  norm: 'group_norm',
  q: 'to_q',
  k: 'to_k',
  v: 'to_v',
  proj_out: 'to_out.0',
};
const VAE_RES_LDM_TO_DIFFUSERS: Record<string, string> = {
  norm1: 'norm1',
  conv1: 'conv1',
  norm2: 'norm2',
  conv2: 'conv2',
  nin_shortcut: 'conv_shortcut',
};
const VAE_RES_DIFFUSERS_TO_LDM = invert(VAE_RES_LDM_TO_DIFFUSERS);

export function vaeLdmToDiffusers(key: string, layout: VAELayout): string | undefined {
  let m: RegExpMatchArray | null;
  if (/^(encoder|decoder)\.(conv_in|conv_out)\./.test(key) || /^(quant_conv|post_quant_conv)\./.test(key))
    return key;
  m = key.match(/^(encoder|decoder)\.norm_out\.(.+)$/);
  if (m) return `${m[1]}.conv_norm_out.${m[2]}`;
  m = key.match(/^encoder\.down\.(\d+)\.block\.(\d+)\.(.+)$/);
  if (m) {
    const rest = renameModule(m[3], VAE_RES_LDM_TO_DIFFUSERS);
    return rest && `encoder.down_blocks.${m[1]}.resnets.${m[2]}.${rest}`;
  }
  m = key.match(/^encoder\.down\.(\d+)\.downsample\.conv\.(.+)$/);
  if (m) return `encoder.down_blocks.${m[1]}.downsamplers.0.conv.${m[2]}`;
  m = key.match(/^decoder\.up\.(\d+)\.block\.(\d+)\.(.+)$/);
  if (m) {
    const rest = renameModule(m[3], VAE_RES_LDM_TO_DIFFUSERS);
    return rest && `decoder.up_blocks.${layout.levels - 1 - Number(m[1])}.resnets.${m[2]}.${rest}`;
  }
  m = key.match(/^decoder\.up\.(\d+)\.upsample\.conv\.(.+)$/);
  if (m) {
    return `decoder.up_blocks.${layout.levels - 1 - Number(m[1])}.upsamplers.0.conv.${m[2]}`;
  }
  m = key.match(/^(encoder|decoder)\.mid\.block_([12])\.(.+)$/);
  if (m) {
    const rest = renameModule(m[3], VAE_RES_LDM_TO_DIFFUSERS);
    return rest && `${m[1]}.mid_block.resnets.${Number(m[2]) - 1}.${rest}`;
  }
  m = key.match(/^(encoder|decoder)\.mid\.attn_1\.(.+)$/);
  if (m) {
    const rest = renameModule(m[2], VAE_ATTENTION_LDM_TO_DIFFUSERS);
    return rest && `${m[1]}.mid_block.attentions.0.${rest}`;
  }
  return undefined;
}

export function vaeDiffusersToLdm(key: string, layout: VAELayout): string | undefined {
  let m: RegExpMatchArray | null;
  if (/^(encoder|decoder)\.(conv_in|conv_out)\./.test(key) || /^(quant_conv|post_quant_conv)\./.test(key))
    return key;
  m = key.match(/^(encoder|decoder)\.conv_norm_out\.(.+)$/);
  if (m) return `${m[1]}.norm_out.${m[2]}`;
  m = key.match(/^encoder\.down_blocks\.(\d+)\.resnets\.(\d+)\.(.+)$/);
  if (m) {
    const rest = renameModule(m[3], VAE_RES_DIFFUSERS_TO_LDM);
    return rest && `encoder.down.${m[1]}.block.${m[2]}.${rest}`;
  }
  m = key.match(/^encoder\.down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)$/);
  if (m) return `encoder.down.${m[1]}.downsample.conv.${m[2]}`;
  m = key.match(/^decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\.(.+)$/);
  if (m) {
    const rest = renameModule(m[3], VAE_RES_DIFFUSERS_TO_LDM);
    return rest && `decoder.up.${layout.levels - 1 - Number(m[1])}.block.${m[2]}.${rest}`;
  }
  m = key.match(/^decoder\.up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)$/);
  if (m) {
    return `decoder.up.${layout.levels - 1 - Number(m[1])}.upsample.conv.${m[2]}`;
  }
  m = key.match(/^(encoder|decoder)\.mid_block\.resnets\.([01])\.(.+)$/);
  if (m) {
    const rest = renameModule(m[3], VAE_RES_DIFFUSERS_TO_LDM);
    return rest && `${m[1]}.mid.block_${Number(m[2]) + 1}.${rest}`;
  }
  m = key.match(/^(encoder|decoder)\.mid_block\.attentions\.0\.(.+)$/);
  if (m) {
    const rest = renameModule(m[2], VAE_ATTENTION_DIFFUSERS_TO_LDM);
    return rest && `${m[1]}.mid.attn_1.${rest}`;
  }
  return undefined;
}

export function vaeLayoutFromDiffusersKeys(keys: Iterable<string>): VAELayout {
  let max = -1;
  for (const key of keys) {
    const m = key.match(/^encoder\.down_blocks\.(\d+)\./);
    if (m) max = Math.max(max, Number(m[1]));
  }
  return { levels: max + 1 };
}

export function vaeLayoutFromLdmKeys(keys: Iterable<string>): VAELayout {
  let max = -1;
  for (const key of keys) {
    const m = key.match(/^encoder\.down\.(\d+)\./);
    if (m) max = Math.max(max, Number(m[1]));
  }
  return { levels: max + 1 };
}

/**
 * LDM keeps the VAE mid-attention q/k/v/proj_out as 1×1 convs [C, C, 1, 1]; diffusers as Linear
 * [C, C] (older files: [C, C, 1]). Same bytes, different shape.
 */
export function isVaeAttentionProjection(ldmVaeKey: string): boolean {
  return /^(encoder|decoder)\.mid\.attn_1\.(q|k|v|proj_out)\.weight$/.test(ldmVaeKey);
}

// ---------------------------------------------------------------- text encoder

/** diffusers text_encoder keys are HF `CLIPTextModel` keys (`text_model.…`); LDM adds `cond_stage_model.transformer.`. */
export function textDiffusersToLdm(key: string): string | undefined {
  return key.startsWith('text_model.') ? `cond_stage_model.transformer.${key}` : undefined;
}

export function textLdmToDiffusers(ldmKey: string): string | undefined {
  const prefix = 'cond_stage_model.transformer.';
  return ldmKey.startsWith(`${prefix}text_model.`) ? ldmKey.slice(prefix.length) : undefined;
}
