import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Builder } from '../../src/onnx/builder.js';
import { GraphCache } from '../../src/onnx/cache.js';
import { encodeModel, saveModel } from '../../src/onnx/serialize.js';
import { createSession } from '../../src/onnx/session.js';
import { readWeightFile, writeWeightFile } from '../../src/onnx/weight-file.js';
import { randn } from './harness.js';
import { readMessage, sub, text } from './proto-reader.js';

const dir = mkdtempSync(join(tmpdir(), 'onnx-ser-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** y = Σ_i x·W_iᵀ over 6 weights of 16×16 float32 (1 KiB each) — small, but enough to split files. */
function smallModel(): Builder {
  const b = new Builder('stack');
  const x = b.input('x', 'float32', [3, 16]);
  let y = x;
  for (let i = 0; i < 6; i++) {
    y = b.scope(`layers.${i}`, () => {
      const w = b.param('weight', Float32Array.from(randn(i + 1, 256, 0.3)), [16, 16]);
      const bias = b.param('bias', Float32Array.from(randn(i + 50, 16, 0.1)), [16]);
      return b.tanh(b.linear(y, w, bias));
    });
  }
  b.output(y, 'y');
  return b;
}

const feeds = { x: { dtype: 'float32' as const, shape: [3, 16], data: Float32Array.from(randn(7, 48)) } };

/** The weights of `smallModel` as tensor sources for a weight folder. */
function smallModelTensors() {
  const g = smallModel().graph;
  return [...g.initializers.values()]
    .filter((t) => t.name.startsWith('layers.'))
    .map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, read: async () => t.data! }));
}

describe('weight folders: weights written once, referenced in place by every graph', () => {
  it('a graph on file-region weights runs like the in-memory one; two graphs share the file (hard link)', async () => {
    const stored = await writeWeightFile(join(dir, 'wf'), smallModelTensors());
    const before = statSync(join(dir, 'wf', 'weights.data')).mtimeMs;
    // A second call finds the folder and writes nothing.
    await writeWeightFile(join(dir, 'wf'), smallModelTensors());
    expect(statSync(join(dir, 'wf', 'weights.data')).mtimeMs).toBe(before);
    expect(readWeightFile(join(dir, 'wf'))?.size).toBe(12);
    for (const t of stored.values()) expect(t.file.offset % 4096).toBe(0);

    const onDisk = (name: string) => {
      const b = new Builder('stack');
      const x = b.input('x', 'float32', [3, 16]);
      let y = x;
      for (let i = 0; i < 6; i++) {
        const w = stored.get(`layers.${i}.weight`)!;
        const bias = stored.get(`layers.${i}.bias`)!;
        y = b.tanh(
          b.linear(
            y,
            b.initializer(`w${i}`, w.file, w.shape, w.dtype),
            b.initializer(`b${i}`, bias.file, bias.shape, bias.dtype),
          ),
        );
      }
      b.output(y, 'y');
      return saveModel(b.graph, join(dir, name));
    };
    const first = onDisk('disk-a');
    const second = onDisk('disk-b');
    expect(first.sideFiles).toHaveLength(1);
    const inode = (f: string) => statSync(f).ino;
    expect(inode(first.sideFiles[0])).toBe(inode(join(dir, 'wf', 'weights.data')));
    expect(inode(second.sideFiles[0])).toBe(inode(join(dir, 'wf', 'weights.data')));
    expect(first.weightBytes).toBe(6 * (256 + 16) * 4);

    const inline = await createSession(encodeModel(smallModel().graph), { executionProvider: 'cpu' });
    const disk = await createSession(first.modelPath, { executionProvider: 'cpu' });
    const got = (await disk.run(feeds)).y.data as Float32Array;
    expect(Array.from(got)).toEqual(Array.from((await inline.run(feeds)).y.data as Float32Array));
    await inline.release();
    await disk.release();
  });

  it('refuses an on-disk weight whose byte length does not match its shape, and inline encoding of one', () => {
    const b = new Builder('bad');
    const region = { path: join(dir, 'none.data'), offset: 0, length: 12 };
    expect(() => b.initializer('w', region, [4, 4], 'float32')).toThrow(/needs 64 bytes/);
    b.initializer('w', { ...region, length: 64 }, [4, 4], 'float32');
    const x = b.input('x', 'float32', [1, 4]);
    b.output(b.matmul(x, b.graph.value('w')), 'y');
    expect(() => encodeModel(b.graph)).toThrow(/save the model with saveModel/);
  });
});

describe('serialization', () => {
  it('external data split across several side files gives the same outputs as inline weights', async () => {
    const b = smallModel();
    const inline = await createSession(encodeModel(b.graph), { executionProvider: 'cpu' });
    const saved = saveModel(b.graph, join(dir, 'split'), {
      maxSideFileBytes: 2500,
      align: 512,
      inlineMaxBytes: 64,
    });
    expect(saved.sideFiles.length).toBeGreaterThanOrEqual(3);
    for (const f of saved.sideFiles) expect(statSync(f).size).toBeLessThanOrEqual(2500);
    const external = await createSession(saved.modelPath, { executionProvider: 'cpu' });
    const a = (await inline.run(feeds)).y.data as Float32Array;
    const c = (await external.run(feeds)).y.data as Float32Array;
    expect(Array.from(c)).toEqual(Array.from(a));
    expect(a.some((v) => v !== 0)).toBe(true);
    await inline.release();
    await external.release();
  });

  it('writes IR 8 / opset 17 and external tensors at aligned offsets within the side-file limit', () => {
    const saved = saveModel(smallModel().graph, join(dir, 'aligned'), {
      maxSideFileBytes: 2500,
      align: 512,
      inlineMaxBytes: 64,
    });
    const model = readMessage(readFileSync(saved.modelPath));
    expect(model.get(1)![0].value).toBe(8n);
    const opset = sub(model.get(8)![0]);
    expect(opset.get(2)![0].value).toBe(17n);
    const graph = sub(model.get(7)![0]);
    const external = graph
      .get(5)!
      .map(sub)
      .filter((t) => t.get(14)?.[0].value === 1n);
    expect(external.length).toBe(6); // the 1 KiB weights; 64-byte biases stay inline
    for (const t of external) {
      const entries = Object.fromEntries(
        t
          .get(13)!
          .map(sub)
          .map((e) => [text(e.get(1)![0]), text(e.get(2)![0])]),
      );
      expect(Number(entries.offset) % 512).toBe(0);
      expect(Number(entries.offset) + Number(entries.length)).toBeLessThanOrEqual(2500);
      expect(saved.sideFiles.map((f) => f.split('/').pop())).toContain(entries.location);
    }
  });

  it('a tensor larger than the side-file limit gets a file of its own and still loads', async () => {
    const b = smallModel();
    const saved = saveModel(b.graph, join(dir, 'oversize'), { maxSideFileBytes: 600, inlineMaxBytes: 64 });
    expect(saved.sideFiles.length).toBe(6); // each 1 KiB weight alone
    const s = await createSession(saved.modelPath, { executionProvider: 'cpu' });
    const inline = await createSession(encodeModel(b.graph), { executionProvider: 'cpu' });
    expect(Array.from((await s.run(feeds)).y.data as Float32Array)).toEqual(
      Array.from((await inline.run(feeds)).y.data as Float32Array),
    );
    await s.release();
    await inline.release();
  });

  it('float16 weights and inputs round-trip through a session', async () => {
    const { float32ToFloat16, float16ToFloat32 } = await import('../../src/onnx/dtype.js');
    const b = new Builder('half');
    const x = b.input('x', 'float16', [2, 4]);
    const w = b.param('w', float32ToFloat16([1, 2, 0.5, -1, 0, 0, 1, 1]), [2, 4]);
    b.output(b.mul(x, w), 'y');
    const s = await createSession(encodeModel(b.graph), { executionProvider: 'cpu' });
    const out = await s.run({
      x: { dtype: 'float16', shape: [2, 4], data: float32ToFloat16([1, 1, 2, 2, 3, 3, 0.25, -4]) },
    });
    expect(out.y.dtype).toBe('float16');
    expect(Array.from(float16ToFloat32(out.y.data as Uint16Array))).toEqual([1, 2, 1, -2, 0, 0, 0.25, -4]);
    await s.release();
  });

  it('the graph cache builds a key once and reuses it; a different shape is a different entry', () => {
    const cache = new GraphCache(join(dir, 'cache'));
    let builds = 0;
    const key = { fingerprint: 'abc', kind: 'stack', shapes: { x: [3, 16] }, dtype: 'float32' as const };
    const build = () => {
      builds++;
      return smallModel().graph;
    };
    const first = cache.getOrBuild(key, build);
    const second = cache.getOrBuild({ ...key, shapes: { x: [3, 16] } }, build);
    expect(first.built).toBe(true);
    expect(second).toEqual({ modelPath: first.modelPath, built: false });
    const third = cache.getOrBuild({ ...key, shapes: { x: [4, 16] } }, build);
    expect(third.modelPath).not.toBe(first.modelPath);
    expect(builds).toBe(2);
    expect(readdirSync(join(dir, 'cache')).length).toBe(2);
  });

  it('a session loads warm, reports CPU when asked, and refuses runs after release', async () => {
    const saved = saveModel(smallModel().graph, join(dir, 'warm'));
    const s = await createSession(saved.modelPath, {
      executionProvider: 'cpu',
      warmup: true,
      threads: 1,
      memPattern: false,
    });
    expect(s.provider).toBe('cpu');
    expect(s.inputNames).toEqual(['x']);
    await expect(s.run({})).rejects.toThrow(/missing inputs: x/);
    await s.release();
    await expect(s.run(feeds)).rejects.toThrow(/released/);
  });

  it('auto falls back to CPU and says why CUDA did not load', async () => {
    const logs: string[] = [];
    const s = await createSession(encodeModel(smallModel().graph), {
      executionProvider: 'auto',
      log: (m) => logs.push(m),
    });
    if (s.provider === 'cpu') {
      expect(s.fallbackReason).toBeTruthy();
      expect(logs.join('\n')).toMatch(/CUDA unavailable .*; using CPU/);
    } else {
      expect(logs.join('\n')).toMatch(/CUDA/);
    }
    await s.release();
  });
});
