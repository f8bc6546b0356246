import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Builder } from '../../src/onnx/builder.js';
import { saveModel } from '../../src/onnx/serialize.js';
import { createSession, type TensorValue } from '../../src/onnx/session.js';

const root = mkdtempSync(join(tmpdir(), 'cones-optcopy-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A conv + linear model with weights in a side file (both kinds of weight ORT pre-packs on CPU). */
function saveConvLinear(dir: string): string {
  const b = new Builder('optimized-copy');
  const x = b.input('x', 'float32', [2, 8, 6, 6]);
  const wc = b.param(
    'conv.w',
    Float32Array.from({ length: 16 * 8 * 9 }, (_, i) => Math.sin(i) * 0.2),
    [16, 8, 3, 3],
  );
  const bc = b.param(
    'conv.b',
    Float32Array.from({ length: 16 }, (_, i) => i / 16),
    [16],
  );
  const y = b.conv2d(x, wc, bc, { pads: [1, 1, 1, 1] });
  const flat = b.reshape(y, [2, 16, 36]);
  const t = b.transpose(flat, [0, 2, 1]);
  const wl = b.param(
    'lin.w',
    Float32Array.from({ length: 32 * 16 }, (_, i) => Math.cos(i) * 0.3),
    [32, 16],
  );
  b.output(b.linear(t, wl), 'y');
  return saveModel(b.graph, dir, { inlineMaxBytes: 64 }).modelPath;
}

const feeds: Record<string, TensorValue> = {
  x: {
    dtype: 'float32',
    shape: [2, 8, 6, 6],
    data: Float32Array.from({ length: 576 }, (_, i) => Math.sin(i * 0.37)),
  },
};

async function runOnce(model: string, folder?: string, log?: (m: string) => void): Promise<Float32Array> {
  const s = await createSession(model, {
    executionProvider: 'cpu',
    threads: 1,
    ...(folder ? { optimizedCopyFolder: folder } : {}),
    log: log ?? (() => {}),
  });
  try {
    return (await s.run(feeds)).y.data as Float32Array;
  } finally {
    await s.release();
  }
}

const copies = (folder: string) => readdirSync(folder).filter((n) => n.startsWith('ort-optimized-'));

describe("ORT's optimized copy of a model", () => {
  it('when it cannot be saved (here: its folder is under a file), the session opens without it and says so', async () => {
    const model = saveConvLinear(join(root, 'unsaved', 'model'));
    writeFileSync(join(root, 'unsaved', 'not-a-folder'), 'x');
    const lines: string[] = [];
    const plain = await runOnce(model);
    expect(
      await runOnce(model, join(root, 'unsaved', 'not-a-folder', 'copies'), (m) => lines.push(m)),
    ).toEqual(plain);
    expect(lines.join('\n')).toMatch(/optimized copy could not be saved .*; opening without it/);
  });

  it('is saved by the first session and opened by later ones, with the same outputs bit for bit', async () => {
    const model = saveConvLinear(join(root, 'a', 'model'));
    const folder = join(root, 'a', 'copies');
    const plain = await runOnce(model);
    expect(await runOnce(model, folder)).toEqual(plain);
    const [copy] = copies(folder);
    expect(copy).toBeDefined();
    expect(readdirSync(join(folder, copy)).sort()).toEqual(['model.data', 'model.onnx']);
    expect(readdirSync(folder).some((n) => n.includes('.tmp-'))).toBe(false);
    // The later session reads only the copy: the original model and its weights may be gone.
    rmSync(join(root, 'a', 'model'), { recursive: true });
    expect(await runOnce(model, folder)).toEqual(plain);
  });

  it('re-makes a copy that does not open, saying so', async () => {
    const model = saveConvLinear(join(root, 'b', 'model'));
    const folder = join(root, 'b', 'copies');
    const plain = await runOnce(model, folder);
    const [copy] = copies(folder);
    writeFileSync(join(folder, copy, 'model.onnx'), 'not a model');
    const logged: string[] = [];
    expect(await runOnce(model, folder, (m) => logged.push(m))).toEqual(plain);
    expect(logged.join('\n')).toMatch(/optimized copy .* did not open .* re-making it/);
    expect(copies(folder)).toEqual([copy]);
    expect(existsSync(join(folder, copy, 'model.data'))).toBe(true);
    expect(await runOnce(model, folder)).toEqual(plain);
  });

  it('is not made at optimization "disabled" (nothing to save)', async () => {
    const model = saveConvLinear(join(root, 'c', 'model'));
    const folder = join(root, 'c', 'copies');
    const s = await createSession(model, {
      executionProvider: 'cpu',
      optimization: 'disabled',
      optimizedCopyFolder: folder,
      log: () => {},
    });
    await s.release();
    expect(existsSync(folder)).toBe(false);
  });
});
