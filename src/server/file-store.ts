import { createHash } from 'node:crypto';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { extname } from 'node:path';
import type { DataDirs } from '../shared/types.js';
import { HttpError } from './http-error.js';
import { checkSubfolder, resolveContained, resolveInside, sanitizeFileName } from './safe-path.js';

export type FolderType = 'input' | 'output' | 'temp';

export function isFolderType(value: unknown): value is FolderType {
  return value === 'input' || value === 'output' || value === 'temp';
}

export function folderOf(dirs: DataDirs, type: FolderType): string {
  return dirs[type];
}

/** Splits ComfyUI's annotated names `name.png [output]` into name and folder type. */
export function parseAnnotated(name: string): { name: string; type?: FolderType } {
  const match = /^(.*) \[(input|output|temp)\]$/.exec(name);
  return match ? { name: match[1], type: match[2] as FolderType } : { name };
}

export interface StoredFileRef {
  name: string;
  subfolder: string;
  type: FolderType;
}

export interface SaveUploadRequest {
  filename: string;
  bytes: Uint8Array;
  type?: FolderType;
  subfolder?: string;
  overwrite?: boolean;
  /** Produces the bytes actually stored at the chosen path (mask uploads composite onto the original). */
  transform?: (bytes: Uint8Array) => Promise<Uint8Array>;
}

async function sameContent(path: string, bytes: Uint8Array): Promise<boolean> {
  const existing = await readFile(path);
  const digest = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
  return existing.length === bytes.length && digest(existing) === digest(bytes);
}

/**
 * Stores an uploaded file like ComfyUI's /upload/image: sanitized name, optional subfolder (escapes → 400,
 * a symbolic link leading out of the folder → 403),
 * same name + same content reuses the file, same name + other content becomes `stem (1).ext`, unless
 * `overwrite`.
 */
export async function saveUpload(dirs: DataDirs, request: SaveUploadRequest): Promise<StoredFileRef> {
  const type = request.type ?? 'input';
  const base = folderOf(dirs, type);
  let subfolder: string;
  try {
    subfolder = checkSubfolder(request.subfolder ?? '');
    resolveInside(base, subfolder);
  } catch (error) {
    // ComfyUI answers upload path escapes with 400 (view escapes with 403).
    if (error instanceof HttpError) throw new HttpError(400, error.type, error.message);
    throw error;
  }
  const filename = sanitizeFileName(request.filename);
  // Checked before mkdir: a linked subfolder must not get folders created at its target either.
  await mkdir(resolveContained(base, subfolder), { recursive: true });
  const ext = extname(filename);
  const stem = filename.slice(0, filename.length - ext.length);
  let name = filename;
  // Every candidate is checked before it is read or written: the name itself may be a link.
  let path = resolveContained(base, subfolder, name);
  if (!request.overwrite) {
    for (let i = 1; await stat(path).catch(() => null); i++) {
      if (!request.transform && (await sameContent(path, request.bytes))) break;
      name = `${stem} (${i})${ext}`;
      path = resolveContained(base, subfolder, name);
    }
  }
  const bytes = request.transform ? await request.transform(request.bytes) : request.bytes;
  await writeFile(path, bytes);
  return { name, subfolder, type };
}

/**
 * Locates a stored file like ComfyUI's /view: `filename` starting with `/` or containing `..` → 400,
 * subfolder escaping its folder (also through a symbolic link) → 403, missing → 404. Only the name's last
 * segment is used.
 */
export async function locateFile(
  dirs: DataDirs,
  ref: { filename: string; subfolder?: string; type?: string },
): Promise<{ path: string; name: string; type: FolderType; subfolder: string }> {
  const annotated = parseAnnotated(ref.filename);
  const filename = annotated.name;
  if (!filename) throw new HttpError(400, 'invalid_filename', 'filename is required');
  if (filename.startsWith('/') || filename.includes('..') || filename.includes('\0')) {
    throw new HttpError(400, 'invalid_filename', `Invalid filename '${filename}'`);
  }
  const type = annotated.type ?? (ref.type === undefined || ref.type === '' ? 'output' : ref.type);
  if (!isFolderType(type)) throw new HttpError(400, 'invalid_type', `Unknown type '${type}'`);
  const subfolder = (ref.subfolder ?? '').replace(/\\/g, '/');
  const name = filename.replace(/\\/g, '/').split('/').pop()!;
  const path = resolveContained(folderOf(dirs, type), subfolder, name);
  const found = await stat(path).catch(() => null);
  if (!found?.isFile()) throw new HttpError(404, 'not_found', `File '${filename}' not found`);
  return { path, name, type, subfolder };
}

const MIME: Record<string, string> = {
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
  '.gif': 'image/gif',
  '.bmp': 'image/bmp',
  '.tif': 'image/tiff',
  '.tiff': 'image/tiff',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.htm': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.mp4': 'video/mp4',
  '.webm': 'video/webm',
  '.mp3': 'audio/mpeg',
  '.wav': 'audio/wav',
  '.flac': 'audio/flac',
  '.safetensors': 'application/octet-stream',
  '.latent': 'application/octet-stream',
};

export function mimeOf(name: string): string {
  return MIME[extname(name).toLowerCase()] ?? 'application/octet-stream';
}

/** Types a browser could run or render as a page: served as attachments (ComfyUI does the same). */
export function isActiveContent(mime: string): boolean {
  return /^(text\/html|image\/svg\+xml|text\/javascript|application\/javascript|application\/xhtml)/.test(
    mime,
  );
}
