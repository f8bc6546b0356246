import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTextEncoderGraph, TEXT_OUTPUT } from '../../../src/sd/graphs/text-encoder.js';
import { allFinite, maxAbsDiff, refWeights, type TinyFixture, tinyFixture } from './fixtures.js';
import { clipForward } from './reference.js';

let fx: TinyFixture;
beforeAll(async () => {
  fx = await tinyFixture();
});
afterAll(async () => {
  await fx?.close();
});

const CAT = [49406, 320, 1125, 539, 320, 2368, 49407, ...new Array(70).fill(49407)];
const DOG = [49406, 320, 1125, 539, 320, 1929, 49407, ...new Array(70).fill(49407)];

describe('SD1 CLIP text encoder graph', () => {
  it('input_ids [2,77] → last_hidden_state [2,77,D], equal to the plain-TS reference to 1e-4', async () => {
    const { config } = fx.checkpoint;
    const weights = await fx.weights('text');
    const session = await fx.open(buildTextEncoderGraph(config, weights, { batch: 2 }).graph, 'text');
    const out = (
      await session.run({
        input_ids: { dtype: 'int32', shape: [2, 77], data: Int32Array.from([...CAT, ...DOG]) },
      })
    )[TEXT_OUTPUT];
    const D = config.text.width;
    expect(out.shape).toEqual([2, 77, D]);
    expect(allFinite(out.data as Float32Array)).toBe(true);
    const W = refWeights(weights);
    for (const [b, ids] of [CAT, DOG].entries()) {
      const ref = clipForward(
        W,
        'cond_stage_model.transformer.',
        config.text.layers,
        config.text.numHeads,
        ids,
      );
      expect(
        maxAbsDiff((out.data as Float32Array).subarray(b * 77 * D, (b + 1) * 77 * D), ref.d),
      ).toBeLessThan(1e-4);
    }
  });

  it('is causal: positions before the first differing token are identical, later ones differ', async () => {
    const { config } = fx.checkpoint;
    const session = await fx.open(
      buildTextEncoderGraph(config, await fx.weights('text'), { batch: 2 }).graph,
      'text-causal',
    );
    const out = (
      await session.run({
        input_ids: { dtype: 'int32', shape: [2, 77], data: Int32Array.from([...CAT, ...DOG]) },
      })
    )[TEXT_OUTPUT].data as Float32Array;
    const D = config.text.width;
    const row = (b: number, i: number) => out.subarray((b * 77 + i) * D, (b * 77 + i + 1) * D);
    for (let i = 0; i < 5; i++) expect(maxAbsDiff(row(0, i), row(1, i))).toBe(0);
    expect(maxAbsDiff(row(0, 5), row(1, 5))).toBeGreaterThan(1e-3);
    expect(maxAbsDiff(row(0, 76), row(1, 76))).toBeGreaterThan(1e-4);
  });

  it('skipLastLayers stops early and still applies the final LayerNorm (CLIP skip)', async () => {
    const { config } = fx.checkpoint;
    const weights = await fx.weights('text');
    const session = await fx.open(
      buildTextEncoderGraph(config, weights, { batch: 1, skipLastLayers: 1 }).graph,
      'text-skip',
    );
    const out = (
      await session.run({ input_ids: { dtype: 'int32', shape: [1, 77], data: Int32Array.from(CAT) } })
    )[TEXT_OUTPUT];
    const ref = clipForward(
      refWeights(weights),
      'cond_stage_model.transformer.',
      config.text.layers - 1,
      config.text.numHeads,
      CAT,
    );
    expect(maxAbsDiff(out.data as Float32Array, ref.d)).toBeLessThan(1e-4);
    expect(() =>
      buildTextEncoderGraph(config, weights, { batch: 1, skipLastLayers: config.text.layers }),
    ).toThrow(/skipLastLayers/);
  });
});
