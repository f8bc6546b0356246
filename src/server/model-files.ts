import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** Extensions listed in model folders (ComfyUI's `supported_pt_extensions` plus concept files). */
export const MODEL_EXTENSIONS = [
  '.safetensors',
  '.ckpt',
  '.pt',
  '.pt2',
  '.pth',
  '.bin',
  '.pkl',
  '.sft',
  '.onnx',
  '.cones',
];

export interface ModelFile {
  /** Path relative to its folder, `/`-separated. */
  name: string;
  pathIndex: number;
  size: number;
  modified: number;
  created: number;
}

/** Files and symlinks to files (ComfyUI follows links), like the combo listings in src/engine/list-files.ts. */
async function walk(
  root: string,
  rel: string,
  out: Array<{ rel: string; abs: string }>,
  depth: number,
): Promise<void> {
  if (depth > 8) return;
  let entries: import('node:fs').Dirent[];
  try {
    entries = await readdir(join(root, rel), { withFileTypes: true });
  } catch {
    return;
  }
  for (const entry of entries) {
    if (entry.name.startsWith('.')) continue;
    const childRel = rel ? `${rel}/${entry.name}` : entry.name;
    if (entry.isDirectory()) await walk(root, childRel, out, depth + 1);
    else if (MODEL_EXTENSIONS.some((ext) => entry.name.toLowerCase().endsWith(ext))) {
      out.push({ rel: childRel, abs: join(root, rel, entry.name) });
    }
  }
}

/** Model files of one ComfyUI folder (e.g. `checkpoints`) across all its paths, first path winning on duplicates. */
export async function listModelFiles(paths: string[]): Promise<ModelFile[]> {
  const seen = new Set<string>();
  const files: ModelFile[] = [];
  for (let pathIndex = 0; pathIndex < paths.length; pathIndex++) {
    const found: Array<{ rel: string; abs: string }> = [];
    await walk(paths[pathIndex], '', found, 0);
    for (const f of found) {
      if (seen.has(f.rel)) continue;
      seen.add(f.rel);
      const s = await stat(f.abs).catch(() => null);
      if (!s) continue;
      files.push({ name: f.rel, pathIndex, size: s.size, modified: s.mtimeMs, created: s.birthtimeMs });
    }
  }
  return files.sort((a, b) => a.name.localeCompare(b.name));
}
