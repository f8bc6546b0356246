/**
 * Checkpoint handles across machines. A handle (`CheckpointHandle`) names its weights by an absolute
 * path, which means nothing on another machine. On the wire a handle's `path` is the checkpoint's
 * name relative to a checkpoints folder (`sub/model.safetensors`) and its front-side graph cache is
 * dropped; each worker resolves the name in its own models folder and checks the fingerprint.
 */
import { statSync } from 'node:fs';
import { isAbsolute, join, relative, sep } from 'node:path';
import { openCheckpoint } from '../../sd/checkpoint/checkpoint.js';
import type { CheckpointHandle } from '../../sd/pipeline/values.js';

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || ArrayBuffer.isView(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function isHandle(value: Record<string, unknown>): value is Record<string, unknown> & CheckpointHandle {
  return (
    typeof value.id === 'string' &&
    typeof value.path === 'string' &&
    typeof value.fingerprint === 'string' &&
    isPlainObject(value.config)
  );
}

/**
 * A copy of `value` with every checkpoint handle passed through `map` (arrays and plain objects are
 * walked; typed arrays and other objects are kept as they are, by reference).
 */
export function mapHandles(value: unknown, map: (handle: CheckpointHandle) => CheckpointHandle): unknown {
  if (Array.isArray(value)) return value.map((v) => mapHandles(v, map));
  if (!isPlainObject(value)) return value;
  if (isHandle(value)) return map(value);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = mapHandles(v, map);
  return out;
}

/** The fingerprint of the first checkpoint handle in `value` (the model a task works with). */
export function fingerprintIn(value: unknown): string | undefined {
  if (Array.isArray(value)) {
    for (const v of value) {
      const found = fingerprintIn(v);
      if (found) return found;
    }
    return undefined;
  }
  if (!isPlainObject(value)) return undefined;
  if (isHandle(value)) return value.fingerprint;
  for (const v of Object.values(value)) {
    const found = fingerprintIn(v);
    if (found) return found;
  }
  return undefined;
}

/** The name of `path` relative to the first of `folders` holding it (forward slashes); else its own base name. */
export function checkpointName(path: string, folders: readonly string[]): string {
  for (const folder of folders) {
    const rel = relative(folder, path);
    if (rel && !rel.startsWith('..') && !isAbsolute(rel)) return rel.split(sep).join('/');
  }
  return path.split(/[\\/]/).pop() ?? path;
}

/** The front's side: handles leave with names, and come back with the front's own paths. */
export class FrontHandles {
  private readonly fingerprints = new Map<string, string>();

  constructor(private readonly folders: readonly string[]) {}

  toWire(value: unknown): unknown {
    return mapHandles(value, ({ graphCacheDir: _dropped, ...h }) => ({
      ...h,
      path: checkpointName(h.path, this.folders),
    }));
  }

  fromWire(value: unknown): unknown {
    return mapHandles(value, (h) => ({ ...h, path: this.pathOf(h.path) }));
  }

  /**
   * `sd.loadCheckpoint`'s payload names a file, not a handle: it leaves as a name, with the fingerprint
   * of the front's file when the front can read it, so a worker holding different weights under that
   * name refuses instead of loading them.
   */
  async loadPayloadToWire(payload: { path: string }): Promise<{ path: string; fingerprint?: string }> {
    const name = checkpointName(payload.path, this.folders);
    const fingerprint = await fingerprintOf(payload.path, this.fingerprints).catch(() => undefined);
    return fingerprint ? { path: name, fingerprint } : { path: name };
  }

  private pathOf(name: string): string {
    for (const folder of this.folders) {
      const path = join(folder, name);
      try {
        statSync(path);
        return path;
      } catch {}
    }
    return name;
  }
}

/** The weights' fingerprint of the checkpoint at `path`, cached by path, size and modification time. */
async function fingerprintOf(path: string, cache: Map<string, string>): Promise<string> {
  const st = statSync(path);
  const key = `${path}\0${st.size}\0${st.mtimeMs}`;
  let fingerprint = cache.get(key);
  if (fingerprint === undefined) {
    const checkpoint = await openCheckpoint(path);
    fingerprint = checkpoint.fingerprint;
    await checkpoint.close();
    cache.set(key, fingerprint);
  }
  return fingerprint;
}

/** A checkpoint a worker cannot use: missing from its models folder, or different weights. */
export class MissingCheckpointError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MissingCheckpointError';
  }
}

/** The worker's side: names resolve in its own checkpoints folder, checked against the fingerprint. */
export class WorkerHandles {
  /** Fingerprints of files already read, by path + size + mtime. */
  private readonly fingerprints = new Map<string, string>();

  constructor(
    readonly checkpointsDir: string,
    private readonly workerId: string,
  ) {}

  /** The local path of a checkpoint name; throws `MissingCheckpointError` when the file is not there. */
  resolve(name: string, fingerprint?: string): string {
    const path = join(this.checkpointsDir, name);
    const rel = relative(this.checkpointsDir, path);
    const about = fingerprint ? ` (fingerprint ${fingerprint})` : '';
    if (!rel || rel.startsWith('..') || isAbsolute(rel))
      throw new MissingCheckpointError(
        `worker ${this.workerId}: checkpoint name '${name}' leaves ${this.checkpointsDir}`,
      );
    try {
      statSync(path);
    } catch {
      throw new MissingCheckpointError(
        `worker ${this.workerId} has no checkpoint '${name}'${about} in ${this.checkpointsDir}: copy the same file there (every worker loads models from its own folder)`,
      );
    }
    return path;
  }

  /** Resolves every handle in a payload to this worker's files, checking their fingerprints. */
  async fromWire(value: unknown): Promise<unknown> {
    const checks: Promise<void>[] = [];
    const mapped = mapHandles(value, (h) => {
      const path = this.resolve(h.path, h.fingerprint);
      checks.push(this.checkFingerprint(h.path, path, h.fingerprint));
      return { ...h, path };
    });
    await Promise.all(checks);
    return mapped;
  }

  /** Handles in a result leave with their names (relative to this worker's checkpoints folder). */
  toWire(value: unknown): unknown {
    return mapHandles(value, ({ graphCacheDir: _dropped, ...h }) => ({
      ...h,
      path: checkpointName(h.path, [this.checkpointsDir]),
    }));
  }

  /** Resolves a name and checks the file's fingerprint when one is given. */
  async resolveChecked(name: string, fingerprint?: string): Promise<string> {
    const path = this.resolve(name, fingerprint);
    if (fingerprint) await this.checkFingerprint(name, path, fingerprint);
    return path;
  }

  private async checkFingerprint(name: string, path: string, expected: string): Promise<void> {
    const actual = await fingerprintOf(path, this.fingerprints);
    if (actual !== expected) {
      throw new MissingCheckpointError(
        `worker ${this.workerId}: checkpoint '${name}' in ${this.checkpointsDir} has fingerprint ${actual}, the front's has ${expected}: the files differ; copy the same file to every worker`,
      );
    }
  }
}
