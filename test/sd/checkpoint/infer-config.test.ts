import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkTensorShapes, inferSD1Config } from '../../../src/sd/checkpoint/infer-config.js';
import { sd1TensorShapes } from '../../../src/sd/checkpoint/sd1-tensors.js';
import { cloneConfig, SD1_CONFIG } from '../../../src/sd/config.js';
import { checkpointMetadataFor, TINY_SD1_CONFIG } from '../../../src/sd/tiny-model.js';
import { assetPath } from '../../../src/shared/assets.js';

function sd1ShapeTable(): Map<string, number[]> {
  const ldm = JSON.parse(readFileSync(assetPath('sd1', 'ldm_keys.json'), 'utf8'));
  const clip = JSON.parse(readFileSync(assetPath('sd1', 'clip_keys.json'), 'utf8')).tensors;
  return new Map(Object.entries({ ...ldm, ...clip })) as Map<string, number[]>;
}

describe('inferSD1Config', () => {
  it("infers SD1.5's configuration from the real SD1 shape table alone", () => {
    const shapes = sd1ShapeTable();
    const config = inferSD1Config(shapes);
    expect(config).toEqual(SD1_CONFIG);
    expect(() => checkTensorShapes(config, shapes)).not.toThrow();
  });

  it('infers the tiny model from its shapes plus the head/group counts in __metadata__', () => {
    const shapes = sd1TensorShapes(TINY_SD1_CONFIG);
    const metadata = checkpointMetadataFor(TINY_SD1_CONFIG, { seed: 0, kind: 'tiny-sd1' });
    expect(inferSD1Config(shapes, metadata)).toEqual(TINY_SD1_CONFIG);
  });

  it("falls back to SD1's conventions (8 UNet heads, width/64 CLIP heads, 32 groups) without metadata", () => {
    const config = cloneConfig(SD1_CONFIG);
    config.unet.modelChannels = 64;
    config.unet.timeEmbedDim = 256;
    config.unet.contextDim = 128;
    config.text.width = 128;
    config.text.mlpDim = 512;
    config.text.layers = 3;
    config.vae.baseChannels = 32;
    const inferred = inferSD1Config(sd1TensorShapes(config));
    expect(inferred.unet.numHeads).toBe(8);
    expect(inferred.unet.normGroups).toBe(32);
    expect(inferred.text.numHeads).toBe(2);
    expect(inferred).toEqual({ ...config, text: { ...config.text, numHeads: 2 } });
  });

  it('handles other depths: 3 levels, 1 ResBlock per level, attention only at level 0, transformer depth 2', () => {
    const config = cloneConfig(TINY_SD1_CONFIG);
    config.unet.channelMult = [1, 2, 3];
    config.unet.attentionLevels = [true, false, false];
    config.unet.numResBlocks = 1;
    config.unet.transformerDepth = 2;
    config.vae.channelMult = [1, 2];
    config.vae.numResBlocks = 1;
    const metadata = checkpointMetadataFor(config, { seed: 0, kind: 't' });
    expect(inferSD1Config(sd1TensorShapes(config), metadata)).toEqual(config);
  });

  it('names missing tensors and wrong shapes', () => {
    const shapes = sd1ShapeTable();
    shapes.delete('model.diffusion_model.output_blocks.5.2.conv.weight');
    shapes.set('first_stage_model.decoder.conv_out.bias', [4]);
    expect(() => checkTensorShapes(inferSD1Config(shapes), shapes)).toThrow(
      /1 tensors missing \(model\.diffusion_model\.output_blocks\.5\.2\.conv\.weight\); 1 tensors with unexpected shapes \(first_stage_model\.decoder\.conv_out\.bias is \[4\], expected \[3\]\)/,
    );
  });

  it('refuses a UNet / text encoder width mismatch and missing sub-models', () => {
    const shapes = sd1ShapeTable();
    shapes.set('cond_stage_model.transformer.text_model.embeddings.token_embedding.weight', [49408, 1024]);
    expect(() => inferSD1Config(shapes)).toThrow(
      /text encoder width 1024 does not match the UNet's cross-attention width 768/,
    );
    const noVae = new Map([...sd1ShapeTable()].filter(([k]) => !k.startsWith('first_stage_model.')));
    expect(() => inferSD1Config(noVae)).toThrow(/no VAE tensors/);
  });

  it('refuses head counts that do not divide the widths, and malformed metadata', () => {
    const shapes = sd1ShapeTable();
    expect(() => inferSD1Config(shapes, { 'sd1.unet.num_heads': '7' })).toThrow(/not divisible by 7 heads/);
    expect(() => inferSD1Config(shapes, { 'sd1.norm_groups': 'many' })).toThrow(
      /"many" is not a positive integer/,
    );
  });
});
