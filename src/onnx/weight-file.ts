/**
 * A folder holding one model part's weights once, on disk: `weights.data` (raw little-endian tensors
 * at 4096-aligned offsets) and `index.json` (name, dtype, shape, offset, length per tensor). Graphs
 * take its tensors as `FileRegion` initializers, so building a graph never reads a weight, and every
 * graph built on it (any kind, any size) references the same bytes (see saveModel).
 */
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import type { DType, TensorData } from './dtype.js';
import type { FileRegion } from './ir.js';

export const WEIGHT_DATA_FILE = 'weights.data';
const INDEX_FILE = 'index.json';
const ALIGN = 4096;

export interface StoredTensor {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly file: FileRegion;
}

export interface TensorSource {
  name: string;
  dtype: DType;
  shape: readonly number[];
  /** Read when its turn comes and dropped after writing: one tensor in memory at a time. */
  read(): Promise<TensorData>;
}

interface IndexEntry {
  name: string;
  dtype: DType;
  shape: number[];
  offset: number;
  length: number;
}

/** The tensors of the weight folder `dir`, or undefined when it has not been written (completely). */
export function readWeightFile(dir: string): Map<string, StoredTensor> | undefined {
  const indexPath = join(dir, INDEX_FILE);
  if (!existsSync(indexPath)) return undefined;
  const path = join(dir, WEIGHT_DATA_FILE);
  const entries = JSON.parse(readFileSync(indexPath, 'utf8')) as IndexEntry[];
  return new Map(
    entries.map((e) => [
      e.name,
      { dtype: e.dtype, shape: e.shape, file: { path, offset: e.offset, length: e.length } },
    ]),
  );
}

/**
 * Writes the weight folder `dir` unless it exists (atomically: a temporary folder renamed into place,
 * so a crash or a concurrent writer never leaves a half-written one), then returns its tensors.
 */
export async function writeWeightFile(
  dir: string,
  tensors: Iterable<TensorSource>,
): Promise<Map<string, StoredTensor>> {
  const existing = readWeightFile(dir);
  if (existing) return existing;
  const tmp = `${dir}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  mkdirSync(tmp, { recursive: true });
  try {
    const fd = openSync(join(tmp, WEIGHT_DATA_FILE), 'w');
    const index: IndexEntry[] = [];
    try {
      let offset = 0;
      for (const t of tensors) {
        const data = await t.read();
        const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
        const at = Math.ceil(offset / ALIGN) * ALIGN;
        let written = 0;
        while (written < bytes.length)
          written += writeSync(fd, bytes, written, bytes.length - written, at + written);
        index.push({ name: t.name, dtype: t.dtype, shape: [...t.shape], offset: at, length: bytes.length });
        offset = at + bytes.length;
      }
    } finally {
      closeSync(fd);
    }
    writeFileSync(join(tmp, INDEX_FILE), JSON.stringify(index));
    try {
      renameSync(tmp, dir);
    } catch (e) {
      if (!readWeightFile(dir)) throw e; // someone else finished first: theirs is identical
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  const written = readWeightFile(dir);
  if (!written) throw new Error(`weight folder ${dir} was not written`);
  return written;
}
