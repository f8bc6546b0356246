import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  canonicalKvOrder,
  kvShapes,
  kvShapesFromCheckpoint,
  parseKvWeightKey,
  scopeKeysProblem,
  scopeWeightKeys,
  shortWeightName,
} from '../../src/cones/layers.js';
import { openCheckpoint } from '../../src/sd/checkpoint/checkpoint.js';
import { sd1TensorShapes } from '../../src/sd/checkpoint/sd1-tensors.js';
import { writeTinyModel } from '../../src/sd/tiny-model.js';
import { assetPath } from '../../src/shared/assets.js';
import { demoConfig } from '../../src/train/recipe.js';

const ldmShapes = JSON.parse(readFileSync(assetPath('sd1', 'ldm_keys.json'), 'utf8')) as Record<
  string,
  number[]
>;

describe('SD1 K/V weights', () => {
  it('has 32 cross-attention and 64 all-attention K/V weights, all real SD1 keys', () => {
    expect(scopeWeightKeys('cross-attention K/V')).toHaveLength(32);
    expect(scopeWeightKeys('all attention K/V')).toHaveLength(64);
    for (const key of scopeWeightKeys('all attention K/V')) expect(ldmShapes[key]).toBeDefined();
  });

  it('derives the same shapes as the SD1 checkpoint key table (context 768, channels 320/640/1280)', () => {
    const shapes = kvShapes('all attention K/V');
    for (const [key, shape] of shapes) expect(shape).toEqual(ldmShapes[key]);
    expect(kvShapesFromCheckpoint('all attention K/V', ldmShapes)).toEqual(shapes);
  });

  it('counts the parameters SD1_SPEC §2.3 gives: 19,169,280 cross-attention, 43,950,080 in all K/V', () => {
    const total = (scope: 'cross-attention K/V' | 'all attention K/V') =>
      [...kvShapes(scope).values()].reduce((s, [o, i]) => s + o * i, 0);
    expect(total('cross-attention K/V')).toBe(19_169_280);
    expect(total('all attention K/V')).toBe(43_950_080);
  });

  it('follows a tiny layout and reads shapes from a checkpoint, naming a missing weight', () => {
    const tiny = kvShapes('cross-attention K/V', {
      modelChannels: 32,
      channelMult: [1, 2, 2, 2],
      contextDim: 48,
    });
    expect(tiny.get('model.diffusion_model.middle_block.1.transformer_blocks.0.attn2.to_v.weight')).toEqual([
      64, 48,
    ]);
    expect(() => kvShapesFromCheckpoint('cross-attention K/V', new Map())).toThrow(
      /input_blocks\.1\.1.*attn2\.to_k/,
    );
  });

  it('parses keys and names them briefly for charts', () => {
    const key = 'model.diffusion_model.output_blocks.11.1.transformer_blocks.0.attn1.to_v.weight';
    expect(parseKvWeightKey(key)).toEqual({
      key,
      module: 'output_blocks.11.1',
      depth: 0,
      attention: 'attn1',
      projection: 'to_v',
    });
    expect(shortWeightName(key)).toBe('out11 attn1.v');
    // A transformer at input_blocks.3 does not exist in SD1 but does in smaller layouts.
    expect(
      parseKvWeightKey('model.diffusion_model.input_blocks.3.1.transformer_blocks.0.attn1.to_k.weight'),
    ).toMatchObject({ module: 'input_blocks.3.1' });
    for (const other of [
      'model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_q.weight',
      'model.diffusion_model.input_blocks.1.0.transformer_blocks.0.attn2.to_k.weight',
      'model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.bias',
      'first_stage_model.encoder.mid.attn_1.k.weight',
    ])
      expect(parseKvWeightKey(other)).toBeNull();
  });
});

describe('models with fewer transformers than SD1 (the toy demo layout)', () => {
  const config = demoConfig();
  const shapes = sd1TensorShapes(config);

  it('takes the K/V weights the checkpoint holds, in execution order, matching its layout', () => {
    const cross = kvShapesFromCheckpoint('cross-attention K/V', shapes);
    expect([...cross.keys()].map(shortWeightName)).toEqual([
      'in3 attn2.k',
      'in3 attn2.v',
      'in5 attn2.k',
      'in5 attn2.v',
      'mid attn2.k',
      'mid attn2.v',
      ...['out0', 'out1', 'out2', 'out3'].flatMap((b) => [`${b} attn2.k`, `${b} attn2.v`]),
    ]);
    expect(cross).toEqual(kvShapes('cross-attention K/V', config.unet));
    const all = kvShapesFromCheckpoint('all attention K/V', shapes);
    expect(all.size).toBe(28);
    expect(all).toEqual(kvShapes('all attention K/V', config.unet));
    expect(all.get('model.diffusion_model.input_blocks.3.1.transformer_blocks.0.attn1.to_k.weight')).toEqual([
      96, 96,
    ]);
    expect(
      cross.get('model.diffusion_model.input_blocks.3.1.transformer_blocks.0.attn2.to_v.weight'),
    ).toEqual([96, 192]);
  });

  it('still refuses a transformer with a K/V weight missing or malformed, and a model without attention', () => {
    const damaged = new Map(shapes);
    const gone = 'model.diffusion_model.output_blocks.1.1.transformer_blocks.0.attn2.to_v.weight';
    damaged.delete(gone);
    expect(() => kvShapesFromCheckpoint('cross-attention K/V', damaged)).toThrow(
      `checkpoint has no tensor '${gone}'`,
    );
    const flat = new Map(shapes);
    flat.set(gone, [96 * 192]);
    expect(() => kvShapesFromCheckpoint('cross-attention K/V', flat)).toThrow(/expected \[out, in\]/);
    const noAttention = new Map([...shapes].filter(([k]) => parseKvWeightKey(k) === null));
    expect(() => kvShapesFromCheckpoint('all attention K/V', noAttention)).toThrow(
      /no attention K\/V weight/,
    );
  });

  it('names what is wrong with a concept key list', () => {
    const keys = [...kvShapes('cross-attention K/V', config.unet).keys()];
    expect(scopeKeysProblem(keys, 'cross-attention K/V')).toBeNull();
    expect(scopeKeysProblem(keys.slice(0, 4), 'cross-attention K/V')).toBeNull();
    expect(scopeKeysProblem([], 'cross-attention K/V')).toMatch(/no weight/);
    expect(scopeKeysProblem(keys.slice(1), 'cross-attention K/V')).toMatch(/input_blocks\.3\.1' lacks/);
    expect(scopeKeysProblem([keys[1], keys[0], ...keys.slice(2)], 'cross-attention K/V')).toMatch(
      /out of canonical order/,
    );
    expect(scopeKeysProblem([...keys, keys[0]], 'cross-attention K/V')).toMatch(/repeated/);
    const all = [...kvShapes('all attention K/V', config.unet).keys()];
    expect(scopeKeysProblem(all, 'cross-attention K/V')).toMatch(/attn1.*not in scope/);
    expect(scopeKeysProblem(all, 'all attention K/V')).toBeNull();
    expect(scopeKeysProblem(canonicalKvOrder([...all].reverse()), 'all attention K/V')).toBeNull();
  });
});

describe('shapes from an open checkpoint', () => {
  it('reads K/V shapes from the tiny demo checkpoint, matching its config', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cones-layers-'));
    try {
      const path = join(dir, 'tiny.safetensors');
      await writeTinyModel(path, { seed: 0 });
      const ckpt = await openCheckpoint(path);
      try {
        const shapes = kvShapesFromCheckpoint('all attention K/V', ckpt);
        expect(shapes.size).toBe(64);
        // The layout formula and the file agree (UNetConfig carries modelChannels, channelMult, contextDim).
        expect(kvShapes('all attention K/V', ckpt.config.unet)).toEqual(shapes);
        expect(
          shapes.get('model.diffusion_model.middle_block.1.transformer_blocks.0.attn2.to_v.weight')![1],
        ).toBe(ckpt.config.unet.contextDim);
      } finally {
        await ckpt.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
