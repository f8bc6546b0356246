/**
 * A content-keyed directory of built models: one subdirectory per (model fingerprint, graph kind,
 * shapes, dtype, options), written once (atomically, via rename) and then loaded by path. The folder
 * is kept under a size cap by its housekeeper (cache-housekeeping.ts): `touch` records a use, a sweep
 * follows every new entry.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type CacheEntry, type CacheHousekeeper, cacheHousekeeper } from './cache-housekeeping.js';
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

/** Graph entries written by another GRAPH_FORMAT_VERSION (or before it was recorded) are stale. */
const currentGraphFormat = (e: CacheEntry) =>
  e.type !== 'graph' || e.meta?.formatVersion === GRAPH_FORMAT_VERSION;

export class GraphCache {
  /** This folder's housekeeping in this process (shared by every GraphCache on it). */
  readonly housekeeper: CacheHousekeeper;

  constructor(
    readonly dir: string,
    private readonly saveOptions: SaveOptions = {},
  ) {
    this.housekeeper = cacheHousekeeper(dir).configure({ checks: { graphFormat: currentGraphFormat } });
  }

  /** Records a use of the entry for `key` (its folder's mtime; at most once a minute). */
  touch(key: GraphKey): void {
    this.housekeeper.touch(this.entryDir(key));
  }

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
    if (existsSync(modelPath)) {
      this.touch(key);
      return { modelPath, built: false };
    }
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
    this.housekeeper.schedule();
    return { modelPath, built: true };
  }
}
