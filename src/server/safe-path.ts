import { basename, extname, isAbsolute, relative, resolve, sep } from 'node:path';
import { HttpError } from './http-error.js';

/** True when `child` (absolute) lies inside `base` (absolute) or is `base` itself. */
export function isInside(base: string, child: string): boolean {
  const rel = relative(base, child);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

/** Resolves `parts` under `base`; 403 when the result escapes it (ComfyUI answers subfolder escapes with 403). */
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
