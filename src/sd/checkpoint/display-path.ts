import { basename, dirname } from 'node:path';

/**
 * How messages name a model file: its folder's name and its own (`checkpoints/x.safetensors`), enough
 * for the user to find it, while the server's absolute layout stays out of what clients are sent.
 */
export function displayPath(path: string): string {
  const name = basename(path);
  const folder = basename(dirname(path));
  return folder === '' || folder === '.' || folder === name ? name : `${folder}/${name}`;
}
