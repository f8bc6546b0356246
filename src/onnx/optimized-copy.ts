/**
 * ORT's optimized copy of a model, kept on disk beside it (CPU sessions only). Creating a CPU session at
 * optimization 'all' re-runs every graph transformer (fusions, constant folding, NCHWc layout rewrites
 * that reorder conv weights) in every process. The first session therefore asks ORT to save the graph as
 * it optimized it, every initializer in one external data file; later sessions open that copy with
 * optimization off. Kernels still pre-pack their weights when the copy opens:
 * session.save_external_prepacked_constant_initializers (saving the pre-packed buffers too) made ORT
 * 1.29 write a text encoder whose copy segfaults on its first run, and saved almost nothing for float32
 * MatMul/Conv, so it is not used. The copy is tied to what shaped it: the ORT version, the optimization
 * level, pre-packing, and the CPU (layout transforms pick blocked formats by ISA).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { arch, cpus } from 'node:os';
import { basename, dirname, join } from 'node:path';

const OPTIMIZED_MODEL_FILE = 'model.onnx';
const OPTIMIZED_DATA_FILE = 'model.data';

/** What an optimized copy depends on besides the model itself. */
export interface OptimizedCopyTraits {
  ortVersion: string;
  optimization: 'basic' | 'extended' | 'all';
  prepack: boolean;
}

let cpu: string | undefined;

/** Architecture, model name and ISA flags of this CPU; read once per process. */
function cpuIdentity(): string {
  if (cpu !== undefined) return cpu;
  let flags = '';
  try {
    flags = /^flags\s*:(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? '';
  } catch {
    // not Linux: the model name and architecture must do
  }
  cpu = `${arch()}|${cpus()[0]?.model ?? '?'}|${flags}`;
  return cpu;
}

/** The folder (inside `folder`) holding the copy made with these traits on this CPU. */
export function optimizedCopyDir(folder: string, traits: OptimizedCopyTraits): string {
  const tag = createHash('sha256')
    .update(JSON.stringify({ ...traits, cpu: cpuIdentity() }))
    .digest('hex')
    .slice(0, 16);
  return join(folder, `ort-optimized-${tag}`);
}

/** The copy's model path when a complete copy exists (folders appear only by rename). */
export function existingOptimizedCopy(dir: string): string | undefined {
  const path = join(dir, OPTIMIZED_MODEL_FILE);
  return existsSync(path) ? path : undefined;
}

/**
 * ORT options that make a session save its optimized graph into a fresh temporary folder beside `dir`;
 * `commit` then moves it into place (or drops it when another process got there first), `discard`
 * removes it after a failed creation.
 */
export function savingOptimizedCopy(dir: string): {
  optimizedModelFilePath: string;
  sessionEntries: Record<string, string>;
  commit: () => void;
  discard: () => void;
} {
  removeAbandonedSaves(dir);
  const tmp = `${dir}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  mkdirSync(tmp, { recursive: true });
  const discard = () => rmSync(tmp, { recursive: true, force: true });
  return {
    optimizedModelFilePath: join(tmp, OPTIMIZED_MODEL_FILE),
    sessionEntries: {
      optimized_model_external_initializers_file_name: OPTIMIZED_DATA_FILE,
      optimized_model_external_initializers_min_size_in_bytes: '1024',
    },
    commit: () => {
      if (!existsSync(join(tmp, OPTIMIZED_MODEL_FILE))) return discard();
      try {
        renameSync(tmp, dir);
      } catch {
        discard(); // another process committed an identical copy first
      }
    },
    discard,
  };
}

const ABANDONED_AFTER_MS = 60 * 60 * 1000;

/** Temporary folders of saves that crashed (older than an hour: a save in progress is never that old). */
function removeAbandonedSaves(dir: string): void {
  const parent = dirname(dir);
  const prefix = `${basename(dir)}.tmp-`;
  if (!existsSync(parent)) return;
  for (const name of readdirSync(parent)) {
    if (!name.startsWith(prefix)) continue;
    const path = join(parent, name);
    try {
      if (Date.now() - statSync(path).mtimeMs > ABANDONED_AFTER_MS)
        rmSync(path, { recursive: true, force: true });
    } catch {
      // removed by someone else meanwhile
    }
  }
}

/** Removes a copy ORT could not open (written by a crashed or incompatible writer); the next session re-makes it. */
export function dropOptimizedCopy(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
