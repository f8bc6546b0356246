import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cacheHousekeeper, scanGraphCache } from '../../src/onnx/cache-housekeeping.js';
import {
  Builder,
  GRAPH_FORMAT_VERSION,
  GraphCache,
  type GraphKey,
  graphKeyHash,
} from '../../src/onnx/index.js';
import { createSession } from '../../src/onnx/session.js';
import { writeWeightFile } from '../../src/onnx/weight-file.js';

const MiB = 2 ** 20;
const MIN = 60_000;
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'graph-cache-hk-'));
});
afterEach(async () => {
  await cacheHousekeeper(dir).idle();
  rmSync(dir, { recursive: true, force: true });
});

const hash = (s: string) => graphKeyHash({ fingerprint: s, kind: 'x', shapes: {}, dtype: 'float32' });

/** Sets the entry's last use `minutes` ago (what `touch` records). */
function usedAgo(path: string, minutes: number): void {
  const t = new Date(Date.now() - minutes * MIN);
  utimesSync(path, t, t);
}

/** A graph entry as GraphCache writes it: key.json + a model file of `bytes` random bytes. */
function graphEntry(name: string, bytes: number, minutesAgo: number, formatVersion = GRAPH_FORMAT_VERSION) {
  const path = join(dir, `${name}-${hash(name)}`);
  mkdirSync(path);
  writeFileSync(join(path, 'model.onnx'), randomBytes(bytes));
  writeFileSync(join(path, 'key.json'), JSON.stringify({ formatVersion, kind: name }));
  usedAgo(path, minutesAgo);
  return path;
}

/** A graph y = Σ x·w whose w (n floats) lies in a weight folder, so the graph hard-links its file. */
function fileGraph(region: { path: string; offset: number; length: number }, n: number, scale: number) {
  const b = new Builder('sum');
  const x = b.input('x', 'float32', [1, n]);
  const w = b.param('w', region, [1, n], 'float32');
  b.output(b.mul(b.reduceSum(b.mul(x, w), [1], false), scale), 'y');
  return b.graph;
}

async function weightFolder(n: number) {
  const path = join(dir, `weights-t-float32-${hash('w')}`);
  const w = Float32Array.from({ length: n }, (_, i) => (i % 7) / 7);
  const stored = await writeWeightFile(path, [
    { name: 'w', dtype: 'float32', shape: [1, n], read: async () => w },
  ]);
  return { path, region: stored.get('w')!.file, w };
}

const key = (scale: number): GraphKey => ({
  fingerprint: 'fp',
  kind: `sum${scale}`,
  shapes: {},
  dtype: 'float32',
});

describe('graph cache housekeeping', () => {
  it('evicts least recently used entries until the cap holds', async () => {
    const cache = new GraphCache(dir);
    const a = graphEntry('a', MiB, 60);
    const b = graphEntry('b', MiB, 50);
    const c = graphEntry('c', MiB, 40);
    const d = graphEntry('d', MiB, 30);
    const hk = cache.housekeeper.configure({ maxBytes: 2.5 * MiB });
    const result = await hk.sweep();
    expect(result.removed.map((r) => [r.name.split('-')[0], r.reason])).toEqual([
      ['a', 'lru'],
      ['b', 'lru'],
    ]);
    expect(result.freedBytes).toBeGreaterThanOrEqual(2 * MiB);
    expect(result.totalBytes).toBeLessThanOrEqual(2.5 * MiB);
    expect([existsSync(a), existsSync(b), existsSync(c), existsSync(d)]).toEqual([false, false, true, true]);
    // Nothing left of the evicted entries (no `.evicting-` folder either).
    expect(readdirSync(dir).sort()).toEqual([c, d].map((p) => p.slice(dir.length + 1)).sort());
    expect((await hk.sweep()).removed).toEqual([]);
  });

  it('keeps entries in use by this process and entries used within the grace period', async () => {
    const cache = new GraphCache(dir);
    const a = graphEntry('a', MiB, 60);
    const b = graphEntry('b', MiB, 1); // another process used it a minute ago
    const c = graphEntry('c', MiB, 50);
    const d = graphEntry('d', MiB, 40);
    const hk = cache.housekeeper.configure({ maxBytes: 1.5 * MiB, graceMs: 10 * MIN });
    const release = hk.acquire(a);
    let result = await hk.sweep();
    expect(result.removed.map((r) => r.name.split('-')[0])).toEqual(['c', 'd']);
    expect([existsSync(a), existsSync(b), existsSync(c), existsSync(d)]).toEqual([true, true, false, false]);
    expect(result.totalBytes).toBeGreaterThan(1.5 * MiB); // over the cap: nothing else may go
    release();
    result = await hk.sweep();
    expect(result.removed.map((r) => r.name.split('-')[0])).toEqual(['a']);
    expect(existsSync(b)).toBe(true);
  });

  it('counts hard-linked weight files once and never drops a weight folder its graphs still link', async () => {
    const n = MiB / 4; // 1 MiB of float32
    const cache = new GraphCache(dir);
    const folder = await weightFolder(n);
    const g1 = cache.getOrBuild(key(1), () => fileGraph(folder.region, n, 1));
    const g2 = cache.getOrBuild(key(2), () => fileGraph(folder.region, n, 2));
    expect(g1.built && g2.built).toBe(true);
    const { entries } = await scanGraphCache(dir);
    expect(entries.map((e) => e.type).sort()).toEqual(['graph', 'graph', 'weights']);
    const hk = cache.housekeeper.configure({ maxBytes: 0 });
    const unique = (await hk.sweep()).totalBytes;
    const counted = entries.reduce((s, e) => s + [...e.inodes.values()].reduce((a, b) => a + b, 0), 0);
    expect(counted).toBeGreaterThan(3 * MiB); // the same 1 MiB file in three folders
    expect(unique).toBeGreaterThan(MiB);
    expect(unique).toBeLessThan(1.1 * MiB);

    usedAgo(folder.path, 60);
    usedAgo(cache.entryDir(key(1)), 50);
    usedAgo(cache.entryDir(key(2)), 40);
    hk.configure({ maxBytes: 0.5 * MiB });
    const release = hk.acquire(cache.entryDir(key(2)));
    let result = await hk.sweep();
    // The oldest entry is the weight folder, but graph 2 (in use) still links its file: removing it
    // would free nothing, so only graph 1 goes.
    expect(result.removed.map((r) => r.name.split('-')[0])).toEqual(['sum1']);
    expect(existsSync(folder.path)).toBe(true);
    release();
    result = await hk.sweep();
    expect(result.removed.map((r) => r.name.split('-')[0])).toEqual(['sum2', 'weights']);
    expect(result.removed[1].bytes).toBeGreaterThanOrEqual(MiB); // freed with its last link
    expect(result.totalBytes).toBe(0);
  });

  it('removes writers’ leftovers older than an hour and entries of another format version', async () => {
    const cache = new GraphCache(dir);
    const oldTmp = join(dir, `unet-${hash('a')}.tmp-123-abc`);
    const freshTmp = join(dir, `unet-${hash('b')}.tmp-456-def`);
    const evicting = join(dir, `unet-${hash('c')}.evicting-789-ghi`);
    for (const p of [oldTmp, freshTmp, evicting]) {
      mkdirSync(p);
      writeFileSync(join(p, 'weights.data'), randomBytes(1000));
    }
    for (const p of [oldTmp, join(oldTmp, 'weights.data')]) usedAgo(p, 90);
    for (const p of [freshTmp, join(freshTmp, 'weights.data')]) usedAgo(p, 20);
    const unknown = join(dir, 'notes');
    mkdirSync(unknown);
    usedAgo(unknown, 600);
    const stale = graphEntry('stale', 1000, 30, GRAPH_FORMAT_VERSION - 1);
    const staleButRecent = graphEntry('recent', 1000, 2, GRAPH_FORMAT_VERSION - 1);
    const current = graphEntry('current', 1000, 30);
    const oldLayout = join(dir, `weights-unet-float32-${hash('old')}`);
    mkdirSync(oldLayout);
    writeFileSync(join(oldLayout, 'weights.data'), randomBytes(1000));
    writeFileSync(join(oldLayout, 'meta.json'), JSON.stringify({ layout: 1 }));
    usedAgo(oldLayout, 30);
    const hk = cache.housekeeper.configure({
      maxBytes: 0,
      checks: { layout: (e) => e.type !== 'weights' || e.meta?.layout === 2 },
    });
    const lines: string[] = [];
    hk.configure({ log: (l) => lines.push(l) });
    const result = await hk.sweep();
    expect(result.removed.map((r) => [r.name, r.reason]).sort()).toEqual(
      [
        [oldTmp, 'leftover'],
        [evicting, 'leftover'],
        [stale, 'old-format'],
        [oldLayout, 'old-format'],
      ]
        .map(([p, r]) => [p.slice(dir.length + 1), r])
        .sort(),
    );
    for (const p of [freshTmp, unknown, staleButRecent, current]) expect(existsSync(p)).toBe(true);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/removed 4 .*freed 0\.0 MiB/);
  });

  it('an entry evicted after use is rebuilt and runs the same', async () => {
    const n = 300;
    const cache = new GraphCache(dir);
    const folder = await weightFolder(n);
    const x = { x: { dtype: 'float32' as const, shape: [1, n], data: new Float32Array(n).fill(1) } };
    const run = async (path: string) => {
      const s = await createSession(path, { executionProvider: 'cpu', threads: 1, log: () => {} });
      try {
        return (await s.run(x)).y.data[0];
      } finally {
        await s.release();
      }
    };
    const first = cache.getOrBuild(key(3), () => fileGraph(folder.region, n, 3));
    const y = await run(first.modelPath);
    expect(y).toBeCloseTo(3 * folder.w.reduce((s, v) => s + v, 0), 3);
    usedAgo(cache.entryDir(key(3)), 30);
    const hk = cache.housekeeper.configure({ maxBytes: 1 });
    const evicted = await hk.sweep();
    expect(evicted.removed.map((r) => r.name)).toContain(cache.entryDir(key(3)).slice(dir.length + 1));
    expect(cache.has(key(3))).toBe(false);
    const again = cache.getOrBuild(key(3), () => fileGraph(folder.region, n, 3));
    expect(again.built).toBe(true);
    expect(await run(again.modelPath)).toBe(y);
  });

  it('records a use on every hit (the entry then survives a sweep)', async () => {
    const cache = new GraphCache(dir);
    cache.getOrBuild(key(4), () => {
      const b = new Builder('one');
      b.output(b.add(b.input('x', 'float32', [1]), 1), 'y');
      return b.graph;
    });
    usedAgo(cache.entryDir(key(4)), 60);
    const hk = cache.housekeeper.configure({ maxBytes: 1 });
    expect(cache.getOrBuild(key(4), () => new Builder('unused').graph).built).toBe(false);
    expect((await hk.sweep()).removed).toEqual([]);
    expect(cache.has(key(4))).toBe(true);
  });
});
