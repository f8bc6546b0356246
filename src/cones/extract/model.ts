/**
 * The checkpoint and ONNX sessions an extraction runs on, kept per runtime worker between calls (one
 * model at a time: asking for another releases the previous one once nobody uses it). Sessions come
 * from the shared graph cache (src/sd/graphs/sessions.ts), so graphs built for sampling are reused.
 */
import { openCheckpoint, type SD1Checkpoint } from '../../sd/checkpoint/checkpoint.js';
import { loadSd1Sessions, type Sd1Sessions } from '../../sd/graphs/sessions.js';
import type { CheckpointHandle } from '../../sd/pipeline/values.js';
import { runtimeSettings } from '../../sd/pipeline/worker-tasks.js';

interface Open {
  path: string;
  fingerprint: string;
  cacheDir: string;
  checkpoint: SD1Checkpoint;
  sessions: Sd1Sessions;
  users: number;
}

let current: Open | undefined;
let opening: Promise<Open> | undefined;

async function open(handle: CheckpointHandle, log: (m: string) => void): Promise<Open> {
  const settings = runtimeSettings(log);
  const cacheDir = handle.graphCacheDir ?? settings.graphCacheDir;
  if (current && current.path === handle.path && current.cacheDir === cacheDir) return current;
  if (current && current.users === 0) {
    const old = current;
    current = undefined;
    await old.sessions.release();
    await old.checkpoint.close();
  }
  const checkpoint = await openCheckpoint(handle.path);
  const sessions = loadSd1Sessions(checkpoint, cacheDir, {
    dtype: 'float32',
    // No CPU arena / memory pattern: at SD width and 512 px they pushed one training step past 20 GiB
    // RSS; without them it peaks at 13 GiB (bench:cones --full).
    session: {
      executionProvider: settings.executionProvider,
      threads: settings.threads,
      cpuArena: false,
      memPattern: false,
      log,
    },
  });
  const entry: Open = {
    path: handle.path,
    fingerprint: checkpoint.fingerprint,
    cacheDir,
    checkpoint,
    sessions,
    users: 0,
  };
  current ??= entry;
  return entry;
}

/** Runs `work` with the sessions of `handle`'s checkpoint, refusing a file that changed since it was loaded. */
export async function withExtractionModel<R>(
  handle: CheckpointHandle,
  log: (m: string) => void,
  work: (m: { checkpoint: SD1Checkpoint; sessions: Sd1Sessions }) => Promise<R>,
): Promise<R> {
  const pending = (opening ?? Promise.resolve(undefined)).then(() => open(handle, log));
  opening = pending.catch(() => undefined) as Promise<Open>;
  const entry = await pending;
  if (entry.fingerprint !== handle.fingerprint)
    throw new Error(`checkpoint ${handle.path} changed since it was loaded; run its loader again`);
  entry.users++;
  try {
    return await work(entry);
  } finally {
    entry.users--;
    if (entry !== current && entry.users === 0) {
      await entry.sessions.release();
      await entry.checkpoint.close();
    }
  }
}

/** Releases the worker's extraction model (tests, `/free`). */
export async function releaseExtractionModel(): Promise<void> {
  const old = current;
  current = undefined;
  if (old && old.users === 0) {
    await old.sessions.release();
    await old.checkpoint.close();
  }
}
