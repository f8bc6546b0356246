import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Absolute path of a file shipped in `assets/` (CLIP vocabulary, SD1 key maps, schedule tables).
 * Works from `src/` (tests, tsx) and from the bundled `dist/`.
 */
export function assetPath(...parts: string[]): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, 'assets');
    if (existsSync(join(candidate, 'sd1'))) return join(candidate, ...parts);
    dir = dirname(dir);
  }
  throw new Error(`assets folder not found above ${fileURLToPath(import.meta.url)}`);
}
