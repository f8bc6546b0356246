import { basename, extname, resolve } from 'node:path';
import { isInside, staysInside } from '../shared/contained-path.js';
import { HttpError } from './http-error.js';

/**
 * Resolves `parts` under `base`; 403 when the result escapes it (ComfyUI answers subfolder escapes with 403).
 * Compares names only, so symbolic links are followed: right for model folders, see `resolveContained`.
 */
export function resolveInside(base: string, ...parts: string[]): string {
  for (const part of parts) {
    if (part.includes('\0')) throw new HttpError(400, 'invalid_path', 'Path contains a NUL byte');
  }
  const root = resolve(base);
  const target = resolve(root, ...parts);
  if (!isInside(root, target)) throw new HttpError(403, 'path_escape', 'Path escapes its folder');
  return target;
}

/**
 * `resolveInside` for the data folders (input/, output/, temp/, user/): also 403 `link_escape` when a
 * symbolic link along the path leads out of `base`'s real location. Check the full path of the file
 * read or written, not only its folder: the file itself may be a link.
 */
export function resolveContained(base: string, ...parts: string[]): string {
  const target = resolveInside(base, ...parts);
  if (!staysInside(base, target)) {
    throw new HttpError(403, 'link_escape', 'Path leads outside its folder through a symbolic link');
  }
  return target;
}

/**
 * A file name a client chose, made safe to store: only its last path segment, no control characters,
 * no reserved characters, bounded length. Throws 400 when nothing usable remains.
 */
export function sanitizeFileName(name: string): string {
  const last = basename(name.replace(/\\/g, '/'));
  // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping control characters is the point
  let clean = last.replace(/[\u0000-\u001f\u007f<>:"|?*]/g, '_').trim();
  if (clean.length > 200) {
    const ext = extname(clean).slice(0, 20);
    clean = clean.slice(0, 200 - ext.length) + ext;
  }
  if (clean === '' || clean === '.' || clean === '..' || /^\.+$/.test(clean)) {
    throw new HttpError(400, 'invalid_filename', `Unusable file name '${name}'`);
  }
  return clean;
}

/** A relative subfolder a client chose: forward slashes, no absolute path, no `..` segment. */
export function checkSubfolder(subfolder: string): string {
  const s = subfolder.replace(/\\/g, '/');
  if (s.includes('\0')) throw new HttpError(400, 'invalid_path', 'Path contains a NUL byte');
  if (s.startsWith('/') || /^[a-zA-Z]:/.test(s) || s.split('/').includes('..')) {
    throw new HttpError(403, 'path_escape', `Subfolder '${subfolder}' escapes its folder`);
  }
  return s;
}
