import { mkdirSync, readdirSync } from 'node:fs';
import { basename, dirname, join, normalize, relative, resolve, sep } from 'node:path';
import { staysInside } from '../shared/contained-path.js';

/**
 * ComfyUI's `get_save_image_path`: expands `%width%`, `%height%`, `%year%`… in the prefix, splits a
 * subfolder off it (never outside the base folder, also not through a symbolic link) and finds the next
 * free counter for `<name>_<counter:05>_.png`.
 */
export interface SavePath {
  folder: string;
  filename: string;
  counter: number;
  subfolder: string;
}

function expandVars(prefix: string, width: number, height: number, now = new Date()): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return prefix
    .replaceAll('%width%', String(width))
    .replaceAll('%height%', String(height))
    .replaceAll('%year%', String(now.getFullYear()))
    .replaceAll('%month%', pad(now.getMonth() + 1))
    .replaceAll('%day%', pad(now.getDate()))
    .replaceAll('%hour%', pad(now.getHours()))
    .replaceAll('%minute%', pad(now.getMinutes()))
    .replaceAll('%second%', pad(now.getSeconds()));
}

export function saveImagePath(prefix: string, baseDir: string, width = 0, height = 0): SavePath {
  const expanded = prefix.includes('%') ? expandVars(prefix, width, height) : prefix;
  const norm = normalize(expanded.replaceAll('\\', '/'));
  const subfolder = dirname(norm) === '.' ? '' : dirname(norm);
  const filename = basename(norm);
  const base = resolve(baseDir);
  const folder = resolve(base, subfolder);
  const rel = relative(base, folder);
  if (rel.startsWith('..') || resolve(base, rel) !== folder || norm.startsWith(sep) || !filename) {
    throw new Error(`Saving image outside the output folder is not allowed (filename_prefix '${prefix}').`);
  }
  // New names are numbered past every existing one, so only the folder can lead out through a link.
  if (!staysInside(base, folder)) {
    throw new Error(
      `Saving image outside the output folder is not allowed: '${subfolder}' leads out of it through a symbolic link (filename_prefix '${prefix}').`,
    );
  }
  let names: string[];
  try {
    names = readdirSync(folder);
  } catch {
    mkdirSync(folder, { recursive: true });
    names = [];
  }
  let max = 0;
  const lower = filename.toLowerCase();
  for (const name of names) {
    // ComfyUI's map_filename: the prefix plus one char, then digits up to the next '_'.
    const head = name.slice(0, filename.length + 1);
    if (head.slice(0, -1).toLowerCase() !== lower || head.at(-1) !== '_') continue;
    const digits = Number.parseInt(name.slice(filename.length + 1).split('_')[0], 10);
    if (/^\d+$/.test(name.slice(filename.length + 1).split('_')[0]) && digits > max) max = digits;
  }
  return { folder, filename, counter: max + 1, subfolder: rel.split(sep).join('/') };
}

export function counterFileName(filename: string, counter: number, batchNumber: number): string {
  return `${filename.replaceAll('%batch_num%', String(batchNumber))}_${String(counter).padStart(5, '0')}_.png`;
}

/**
 * The file to write. The counter only steps past names that start with the raw prefix, so a name
 * made later (`%batch_num%` filled in) may already exist, and be a link leading out of the folder.
 */
export function joinSave(path: SavePath, file: string): string {
  const full = join(path.folder, file);
  if (!staysInside(path.folder, full)) {
    throw new Error(
      `Saving image outside the output folder is not allowed: '${file}' is a symbolic link leading out of it.`,
    );
  }
  return full;
}
