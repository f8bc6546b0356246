/**
 * ComfyUI-style file listing for combo widgets (images in input/, checkpoints, concepts): every file under
 * a folder whose name passes a filter, as a path relative to that folder with `/` separators. Hidden
 * entries (leading dot) are skipped; unreadable folders list as empty instead of failing /object_info.
 */
import { type Dirent, readdirSync } from 'node:fs';
import { join } from 'node:path';

export function listRelativeFiles(
  root: string,
  accept: (fileName: string) => boolean,
  options: { maxDepth?: number } = {},
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
      if (entry.isDirectory()) walk(rel, depth + 1);
      else if (accept(entry.name)) out.push(rel); // files and symlinks (ComfyUI follows links)
    }
  };
  walk('', 0);
  return out;
}
