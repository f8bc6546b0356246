/**
 * The training graphs' weight gradients, end to end: along the gradient's own direction d = g/|g|,
 * the float32 central difference (L(w + h·d) − L(w − h·d))/2h must equal |g| (the op rules are
 * checked one by one against float64 in test/onnx/ops.test.ts; this checks the wiring — every weight
 * an input, every gradient output matched to its weight).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { initialWeights } from '../../src/train/model-init.js';
import { type TrainingStage, unetStage, vaeStage } from '../../src/train/stages.js';
import { testRecipe } from './fixtures.js';

const stages: TrainingStage[] = [];
afterAll(async () => {
  for (const s of stages) await s.release();
});

async function directionalCheck(
  name: 'vae' | 'unet',
  trainText = false,
  edgeWeight?: number,
  decoderOnly = false,
  reconstruction?: 'mse',
) {
  const recipe = testRecipe({ vae: 1, unet: 1 });
  recipe.unet.trainTextEncoder = trainText;
  if (edgeWeight) recipe.vae.edgeWeight = edgeWeight;
  if (decoderOnly) recipe.vae.decoderOnly = true;
  if (reconstruction) recipe.vae.reconstruction = reconstruction;
  const weights = initialWeights(recipe.config, recipe.seed);
  // Move off the zero-initialised outputs so every UNet weight has a gradient.
  for (const [, v] of weights.values) if (v.every((x) => x === 0)) v.fill(0.01);
  const stage = name === 'vae' ? await vaeStage(recipe, weights) : await unetStage(recipe, weights);
  stages.push(stage);
  const { grads } = await stage.step(0);
  let norm = 0;
  for (const g of grads.values()) for (const x of g) norm += x * x;
  norm = Math.sqrt(norm);
  const h = 1e-2;
  const originals = new Map([...grads.keys()].map((k) => [k, Float32Array.from(weights.values.get(k)!)]));
  const lossAt = async (sign: number) => {
    for (const [k, g] of grads) {
      const w = weights.values.get(k)!;
      const w0 = originals.get(k)!;
      for (let i = 0; i < w.length; i++) w[i] = w0[i] + (sign * h * g[i]) / norm;
    }
    return (await stage.step(0)).loss;
  };
  const fd = ((await lossAt(1)) - (await lossAt(-1))) / (2 * h);
  return { fd, norm, keys: grads.size, names: [...grads.keys()] };
}

describe('model training graphs: weight gradients match a directional finite difference', () => {
  it('VAE (reconstruction L1 + KL), every VAE weight', async () => {
    const r = await directionalCheck('vae');
    expect(r.keys).toBeGreaterThan(50);
    expect(Math.abs(r.fd - r.norm) / r.norm).toBeLessThan(0.03);
  });
  it('VAE with the edge term (L1 on neighbouring-pixel differences), and the term changes the loss', async () => {
    const r = await directionalCheck('vae', false, 2);
    expect(Math.abs(r.fd - r.norm) / r.norm).toBeLessThan(0.03);
    const plain = await directionalCheck('vae');
    expect(r.norm).not.toBeCloseTo(plain.norm, 6);
  });
  it('VAE decoder only: gradients for post_quant_conv and the decoder, none for the encoder or quant_conv', async () => {
    const r = await directionalCheck('vae', false, undefined, true);
    expect(Math.abs(r.fd - r.norm) / r.norm).toBeLessThan(0.03);
    expect(r.names).toContain('first_stage_model.post_quant_conv.weight');
    expect(r.names).toContain('first_stage_model.decoder.conv_out.weight');
    expect(r.names.filter((k) => !/^first_stage_model\.(decoder|post_quant_conv)\./.test(k))).toEqual([]);
    const all = await directionalCheck('vae');
    expect(all.keys).toBeGreaterThan(r.keys);
    expect(all.names).toContain('first_stage_model.quant_conv.weight');
  });
  it('VAE decoder with squared error instead of L1: gradients match, and differ from L1', async () => {
    const r = await directionalCheck('vae', false, undefined, true, 'mse');
    expect(Math.abs(r.fd - r.norm) / r.norm).toBeLessThan(0.03);
    const l1 = await directionalCheck('vae', false, undefined, true);
    expect(r.norm).not.toBeCloseTo(l1.norm, 4);
  });
  it('UNet (ε-prediction), every UNet weight; CLIP frozen', async () => {
    const r = await directionalCheck('unet');
    expect(r.keys).toBeGreaterThan(50);
    expect(Math.abs(r.fd - r.norm) / r.norm).toBeLessThan(0.03);
  });
  it('UNet with CLIP trained: CLIP weights (token table, LayerNorms, attention) have gradients too', async () => {
    const r = await directionalCheck('unet', true);
    expect(Math.abs(r.fd - r.norm) / r.norm).toBeLessThan(0.03);
  });
});
