/**
 * A content-keyed directory of built models: one subdirectory per (model fingerprint, graph kind,
 * shapes, dtype, options), written once (atomically, via rename) and then loaded by path.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DType } from './dtype.js';
import type { Graph } from './ir.js';
import { type SaveOptions, saveModel } from './serialize.js';

/** Bump when the builder's output for the same key changes (new rules, naming, layout). */
export const GRAPH_FORMAT_VERSION = 1;

export interface GraphKey {
  /** Identifies the weights (e.g. a hash of the checkpoint). */
  fingerprint: string;
  /** e.g. 'unet', 'unet-train-kv', 'vae-decoder', 'text-encoder'. */
  kind: string;
  /** Input shapes (or any shape-defining numbers). */
  shapes: Record<string, readonly number[]>;
  dtype: DType;
  /** Anything else that changes the graph (scope, recompute on/off…). */
  options?: Record<string, unknown>;
}

function stable(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stable).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value as object)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stable((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

export function graphKeyHash(key: GraphKey): string {
  return createHash('sha256')
    .update(stable({ v: GRAPH_FORMAT_VERSION, ...key }))
    .digest('hex')
    .slice(0, 32);
}

export class GraphCache {
  constructor(
    readonly dir: string,
    private readonly saveOptions: SaveOptions = {},
  ) {}

  entryDir(key: GraphKey): string {
    return join(this.dir, `${key.kind.replace(/[^\w.-]/g, '_')}-${graphKeyHash(key)}`);
  }

  modelPath(key: GraphKey): string {
    return join(this.entryDir(key), this.saveOptions.fileName ?? 'model.onnx');
  }

  has(key: GraphKey): boolean {
    return existsSync(this.modelPath(key));
  }

  /**
   * Bytes of weights and constants the model for `key` references (what a session that copies its
   * initializers holds for it; weight files shared with other graphs count in full here), or undefined
   * for an entry written before this was recorded.
   */
  modelBytes(key: GraphKey): number | undefined {
    try {
      const info = JSON.parse(readFileSync(join(this.entryDir(key), 'key.json'), 'utf8')) as {
        bytes?: number;
      };
      return typeof info.bytes === 'number' ? info.bytes : undefined;
    } catch {
      return undefined;
    }
  }

  /** The model path for `key`, calling `build` and writing the model only when it is not cached yet. */
  getOrBuild(key: GraphKey, build: () => Graph): { modelPath: string; built: boolean } {
    const modelPath = this.modelPath(key);
    if (existsSync(modelPath)) return { modelPath, built: false };
    const final = this.entryDir(key);
    const tmp = `${final}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
    mkdirSync(this.dir, { recursive: true });
    try {
      const saved = saveModel(build(), tmp, this.saveOptions);
      const bytes = saved.weightBytes + saved.modelBytes;
      writeFileSync(
        join(tmp, 'key.json'),
        `${JSON.stringify({ formatVersion: GRAPH_FORMAT_VERSION, ...key, bytes }, null, 2)}\n`,
      );
      try {
        renameSync(tmp, final);
      } catch (e) {
        if (!existsSync(modelPath)) throw e; // someone else finished first: theirs is identical
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
    return { modelPath, built: true };
  }
}
