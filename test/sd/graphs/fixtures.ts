/** Shared set-up for the SD1 graph tests: the tiny random checkpoint, weights, ORT sessions, inputs. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSession, type EngineSession, type Graph, saveModel } from '../../../src/onnx/index.js';
import { openCheckpoint, type SD1Checkpoint } from '../../../src/sd/checkpoint/checkpoint.js';
import { type GraphDType, loadWeights, type Weights } from '../../../src/sd/graphs/weights.js';
import { writeTinyModel } from '../../../src/sd/tiny-model.js';
import type { RefWeights } from './reference.js';

export interface TinyFixture {
  dir: string;
  checkpoint: SD1Checkpoint;
  weights(part: 'unet' | 'vae' | 'text', dtype?: GraphDType): Promise<Weights>;
  /** Saves `graph` under the fixture dir and opens it on ORT CPU. */
  open(graph: Graph, name: string, opts?: { optimization?: 'basic' | 'all' }): Promise<EngineSession>;
  close(): Promise<void>;
}

export async function tinyFixture(): Promise<TinyFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'sd-graphs-'));
  const path = join(dir, 'tiny.safetensors');
  await writeTinyModel(path, { seed: 7 });
  const checkpoint = await openCheckpoint(path);
  const cache = new Map<string, Promise<Weights>>();
  const sessions: EngineSession[] = [];
  return {
    dir,
    checkpoint,
    weights(part, dtype = 'float32') {
      const id = `${part}|${dtype}`;
      if (!cache.has(id)) cache.set(id, loadWeights(checkpoint, checkpoint.keysOf(part), dtype));
      return cache.get(id)!;
    },
    async open(graph, name, opts = {}) {
      const saved = saveModel(graph, join(dir, name));
      const s = await createSession(saved.modelPath, {
        executionProvider: 'cpu',
        threads: 2,
        optimization: opts.optimization ?? 'all',
      });
      sessions.push(s);
      return s;
    },
    async close() {
      for (const s of sessions) await s.release();
      await checkpoint.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The reference implementation's view of loaded weights. */
export function refWeights(weights: Weights): RefWeights {
  return (key) => {
    const t = weights.get(key);
    if (!t) throw new Error(`reference needs ${key}`);
    return { data: t.data as Float32Array, shape: [...t.shape] };
  };
}

/** Deterministic smooth test signal in −1..1. */
export function signal(n: number, seed: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * (0.37 + seed * 0.11) + seed));
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

export function allFinite(a: ArrayLike<number>): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return false;
  return true;
}
