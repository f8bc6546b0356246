import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GRAPH_FORMAT_VERSION, graphKeyHash } from '../../../src/onnx/index.js';
import { loadSd1Sessions, SD1_GRAPHS_VERSION } from '../../../src/sd/graphs/sessions.js';
import { maxAbsDiff, signal, type TinyFixture, tinyFixture } from './fixtures.js';

let fx: TinyFixture;
beforeAll(async () => {
  fx = await tinyFixture();
});
afterAll(async () => {
  await fx?.close();
});

const DAY = 24 * 3600_000;

describe('Sd1Sessions and the graph cache housekeeping', () => {
  it('keeps what open sessions use, evicts it once released, and rebuilds an evicted graph', async () => {
    const dir = join(fx.dir, 'cache-hk');
    const lines: string[] = [];
    const sessions = loadSd1Sessions(fx.checkpoint, dir, {
      session: { executionProvider: 'cpu', threads: 2, log: (l) => lines.push(l) },
      cacheMaxBytes: 1,
    });
    const hk = sessions.cache.housekeeper;
    try {
      const shape = { batch: 1, height: 4, width: 4 };
      const first = await sessions.vaeDecoder(shape);
      expect(first.built).toBe(true);
      const latent = signal(4 * 16, 3);
      const image = await first.run(latent);
      const names = readdirSync(dir).sort();
      expect(names.map((n) => n.split('-')[0])).toEqual(['vae', 'weights']);
      const weightDir = join(dir, names[1]);
      expect(JSON.parse(readFileSync(join(weightDir, 'meta.json'), 'utf8'))).toMatchObject({
        layout: 2,
        part: 'vae',
        dtype: 'float32',
      });

      // Stale entries of older builders: a graph of another SD1_GRAPHS_VERSION, a weight folder of
      // another layout.
      const id = graphKeyHash({ fingerprint: 'old', kind: 'unet', shapes: {}, dtype: 'float32' });
      const oldGraph = join(dir, `unet-${id}`);
      mkdirSync(oldGraph);
      writeFileSync(join(oldGraph, 'model.onnx'), 'x');
      writeFileSync(
        join(oldGraph, 'key.json'),
        JSON.stringify({
          formatVersion: GRAPH_FORMAT_VERSION,
          options: { sd1Graphs: SD1_GRAPHS_VERSION - 1 },
        }),
      );
      const oldWeights = join(dir, `weights-unet-float32-${id}`);
      mkdirSync(oldWeights);
      writeFileSync(join(oldWeights, 'weights.data'), 'x');
      writeFileSync(join(oldWeights, 'meta.json'), JSON.stringify({ layout: 1 }));

      // A day later (no grace left), over a 1-byte cap: the open session's graph and the weight
      // folder it links stay; the stale entries go.
      let result = await hk.sweep({ now: Date.now() + DAY });
      expect(result.removed.map((r) => [r.name.split('-')[0], r.reason]).sort()).toEqual([
        ['unet', 'old-format'],
        ['weights', 'old-format'],
      ]);
      expect(existsSync(first.modelPath) && existsSync(weightDir)).toBe(true);

      await sessions.release();
      result = await hk.sweep({ now: Date.now() + DAY });
      expect(result.removed.map((r) => r.name.split('-')[0])).toEqual(['vae', 'weights']);
      expect(result.totalBytes).toBe(0);
      expect(readdirSync(dir)).toEqual([]);
      expect(lines.some((l) => /removed 2 .*vae-.*lru.*weights-.*lru.*freed/.test(l))).toBe(true);

      const again = await sessions.vaeDecoder(shape);
      expect(again.built).toBe(true);
      expect(again.modelPath).toBe(first.modelPath);
      expect(maxAbsDiff(await again.run(latent), image)).toBe(0);
    } finally {
      await sessions.release();
      await hk.idle();
    }
  });
});
