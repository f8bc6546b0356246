import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  textDiffusersToLdm,
  textLdmToDiffusers,
  unetDiffusersToLdm,
  unetLayoutFromDiffusersKeys,
  unetLayoutFromLdmKeys,
  unetLdmToDiffusers,
  vaeDiffusersToLdm,
  vaeLayoutFromDiffusersKeys,
  vaeLayoutFromLdmKeys,
  vaeLdmToDiffusers,
} from '../../../src/sd/checkpoint/diffusers-keys.js';
import { sd1TensorShapes, UNET_PREFIX, VAE_PREFIX } from '../../../src/sd/checkpoint/sd1-tensors.js';
import { cloneConfig } from '../../../src/sd/config.js';
import { TINY_SD1_CONFIG } from '../../../src/sd/tiny-model.js';
import { assetPath } from '../../../src/shared/assets.js';

type MapEntry = { diffusers: string; shape_ldm: number[]; shape_diffusers: number[] };
const table: Record<string, MapEntry> = JSON.parse(
  readFileSync(assetPath('sd1', 'ldm_to_diffusers_map.json'), 'utf8'),
);
const strip = (keys: string[], prefix: string) =>
  keys.filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length));

describe('LDM ↔ diffusers rules', () => {
  const ldmKeys = Object.keys(table);
  const diffusersKeys = Object.values(table).map((e) => e.diffusers);
  const unetLdm = unetLayoutFromLdmKeys(strip(ldmKeys, UNET_PREFIX));
  const unetDiff = unetLayoutFromDiffusersKeys(strip(diffusersKeys, 'unet.'));
  const vaeLdm = vaeLayoutFromLdmKeys(strip(ldmKeys, VAE_PREFIX));
  const vaeDiff = vaeLayoutFromDiffusersKeys(strip(diffusersKeys, 'vae.'));

  it('read the same SD1 layout off either naming', () => {
    expect(unetLdm).toEqual({ numResBlocks: 2, upBlockHasAttention: [false, true, true, true] });
    expect(unetDiff).toEqual(unetLdm);
    expect(vaeLdm).toEqual({ levels: 4 });
    expect(vaeDiff).toEqual(vaeLdm);
  });

  it("reproduce all 934 entries of diffusers' own conversion table, in both directions", () => {
    const wrong: string[] = [];
    for (const [ldm, { diffusers }] of Object.entries(table)) {
      let forward: string | undefined;
      let back: string | undefined;
      if (ldm.startsWith(UNET_PREFIX)) {
        forward = `unet.${unetLdmToDiffusers(ldm.slice(UNET_PREFIX.length), unetLdm)}`;
        back = UNET_PREFIX + unetDiffusersToLdm(diffusers.slice('unet.'.length), unetDiff);
      } else {
        forward = `vae.${vaeLdmToDiffusers(ldm.slice(VAE_PREFIX.length), vaeLdm)}`;
        back = VAE_PREFIX + vaeDiffusersToLdm(diffusers.slice('vae.'.length), vaeDiff);
      }
      if (forward !== diffusers || back !== ldm)
        wrong.push(`${ldm} ↔ ${diffusers} (got ${forward} / ${back})`);
    }
    expect(Object.keys(table)).toHaveLength(934);
    expect(wrong).toEqual([]);
  });

  it('round-trip every key of models with other depths (1 or 3 ResBlocks, attention at other levels)', () => {
    for (const [numResBlocks, attentionLevels] of [
      [1, [true, false, true]],
      [3, [false, true, true, true]],
    ] as const) {
      const config = cloneConfig(TINY_SD1_CONFIG);
      config.unet.numResBlocks = numResBlocks;
      config.unet.attentionLevels = [...attentionLevels];
      config.unet.channelMult = attentionLevels.map((_, i) => i + 1);
      config.vae.channelMult = [1, 2, 4];
      const keys = [...sd1TensorShapes(config).keys()];
      const unet = strip(keys, UNET_PREFIX);
      const vae = strip(keys, VAE_PREFIX);
      const uL = unetLayoutFromLdmKeys(unet);
      const diffUnet = unet.map((k) => unetLdmToDiffusers(k, uL)!);
      expect(diffUnet.every(Boolean)).toBe(true);
      expect(new Set(diffUnet).size).toBe(unet.length);
      const uD = unetLayoutFromDiffusersKeys(diffUnet);
      expect(diffUnet.map((k) => unetDiffusersToLdm(k, uD))).toEqual(unet);
      const vL = vaeLayoutFromLdmKeys(vae);
      const diffVae = vae.map((k) => vaeLdmToDiffusers(k, vL)!);
      expect(diffVae.map((k) => vaeDiffusersToLdm(k, vaeLayoutFromDiffusersKeys(diffVae)))).toEqual(vae);
    }
  });

  it('map old diffusers VAE attention names (query/key/value/proj_attn)', () => {
    const layout = { levels: 4 };
    expect(vaeDiffusersToLdm('decoder.mid_block.attentions.0.query.weight', layout)).toBe(
      'decoder.mid.attn_1.q.weight',
    );
    expect(vaeDiffusersToLdm('encoder.mid_block.attentions.0.proj_attn.bias', layout)).toBe(
      'encoder.mid.attn_1.proj_out.bias',
    );
  });

  it('map text encoder keys by prefix only', () => {
    const k = 'text_model.encoder.layers.3.mlp.fc1.weight';
    expect(textDiffusersToLdm(k)).toBe(`cond_stage_model.transformer.${k}`);
    expect(textLdmToDiffusers(`cond_stage_model.transformer.${k}`)).toBe(k);
    expect(textDiffusersToLdm('logit_scale')).toBeUndefined();
  });
});
