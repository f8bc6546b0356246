/**
 * ComfyUI-style file listing for combo widgets (images in input/, checkpoints, concepts): every file under
 * a folder whose name passes a filter, as a path relative to that folder with `/` separators. Hidden
 * entries (leading dot) are skipped; unreadable folders list as empty instead of failing /object_info.
 */
import { type Dirent, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { staysInside } from './contained-path.js';

export interface ListOptions {
  maxDepth?: number;
  /**
   * Lists a symbolic link only when it resolves inside `root`: for the data folders (input/), whose files
   * must not lead elsewhere. Model folders leave it off, since users link their model stores on purpose.
   */
  linksStayInside?: boolean;
}

export function listRelativeFiles(
  root: string,
  accept: (fileName: string) => boolean,
  options: ListOptions = {},
): string[] {
  const maxDepth = options.maxDepth ?? Number.POSITIVE_INFINITY;
  const out: string[] = [];
  const walk = (prefix: string, depth: number) => {
    if (depth > maxDepth) return;
    let entries: Dirent[];
    try {
      entries = readdirSync(prefix ? join(root, prefix) : root, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      if (entry.name.startsWith('.')) continue;
      const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        walk(rel, depth + 1);
        continue;
      }
      if (!accept(entry.name)) continue;
      // Files and symlinks (ComfyUI follows links), unless a data folder's link leads out of it.
      if (entry.isSymbolicLink() && options.linksStayInside && !staysInside(root, join(root, rel))) continue;
      out.push(rel);
    }
  };
  walk('', 0);
  return out;
}
