/**
 * Finding checkpoint files in the model folders the way ComfyUI's `folder_paths` does: names are paths
 * relative to a model folder (subfolders use `/`), the first folder that holds a name wins.
 */
import { statSync } from 'node:fs';
import { isAbsolute, join, normalize, relative, sep } from 'node:path';
import { listRelativeFiles } from '../../shared/list-files.js';
import { displayPath } from '../checkpoint/display-path.js';

/** File endings ComfyUI lists under models/checkpoints. `.ckpt` is listed so loading can explain why it is refused. */
export const CHECKPOINT_EXTENSIONS = ['.safetensors', '.sft', '.ckpt', '.pt', '.pth', '.bin'] as const;

/** Sorted, de-duplicated relative names of every checkpoint file under the given folders. */
export function listCheckpointNames(folders: readonly string[]): string[] {
  const names = new Set<string>();
  for (const folder of folders)
    for (const name of listRelativeFiles(folder, isCheckpointFile)) names.add(name);
  return [...names].sort((a, b) => a.localeCompare(b));
}

function isCheckpointFile(name: string): boolean {
  const lower = name.toLowerCase();
  return CHECKPOINT_EXTENSIONS.some((ext) => lower.endsWith(ext));
}

/**
 * Absolute path of a checkpoint name, or an error message. Names that leave the model folders
 * (absolute paths, `..`) are refused.
 */
export function resolveCheckpointPath(
  folders: readonly string[],
  name: string,
): { path: string } | { error: string } {
  if (typeof name !== 'string' || name.length === 0) return { error: 'no checkpoint name given' };
  if (isAbsolute(name) || name.includes('\0')) return { error: `invalid checkpoint name '${name}'` };
  for (const folder of folders) {
    const path = normalize(join(folder, name));
    const rel = relative(folder, path);
    if (rel.startsWith('..') || isAbsolute(rel) || rel.split(sep).includes('..')) {
      return { error: `checkpoint name '${name}' points outside the model folder` };
    }
    try {
      if (statSync(path).isFile()) return { path };
    } catch {
      // not in this folder; try the next
    }
  }
  return { error: `checkpoint '${name}' not found in ${folders.map(displayPath).join(', ')}` };
}
