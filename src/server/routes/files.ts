import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import type { MultipartFile } from '@fastify/multipart';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { DataDirs } from '../../shared/types.js';
import {
  type FolderType,
  isActiveContent,
  isFolderType,
  locateFile,
  mimeOf,
  saveUpload,
} from '../file-store.js';
import { comfyRoute, query } from '../http-app.js';
import { HttpError } from '../http-error.js';
import { compositeMask, transformForView } from '../image-ops.js';
import type { ServerLimits } from '../options.js';

interface UploadForm {
  file?: { filename: string; bytes: Buffer };
  fields: Record<string, string>;
}

/**
 * The multipart parser's own complaints (no boundary, body cut short, bad part headers) are plain errors
 * without a status; they describe the client's body, so they become 400. Limit errors keep their status.
 */
function asClientError(error: unknown): unknown {
  if (error instanceof HttpError || !(error instanceof Error)) return error;
  if ((error as { statusCode?: unknown }).statusCode !== undefined || 'code' in error) return error;
  return new HttpError(400, 'invalid_multipart', `Malformed multipart body: ${error.message}`);
}

/** Reads a multipart upload fully (fields may come after the file); the file must fit the upload limit. */
async function readUploadForm(request: FastifyRequest, limits: ServerLimits): Promise<UploadForm> {
  if (!request.isMultipart())
    throw new HttpError(400, 'not_multipart', 'Expected a multipart/form-data body');
  const form: UploadForm = { fields: {} };
  try {
    for await (const part of request.parts({
      limits: { fileSize: limits.maxUploadBytes, files: 4, fields: 32, fieldSize: 1024 * 1024 },
    })) {
      if (part.type === 'file') {
        const file = part as MultipartFile;
        const bytes = await file.toBuffer();
        if (file.file.truncated) {
          throw new HttpError(
            413,
            'upload_too_large',
            `Upload exceeds the ${limits.maxUploadBytes}-byte limit`,
          );
        }
        if (file.fieldname === 'image') form.file = { filename: file.filename, bytes };
      } else if (typeof part.value === 'string') {
        form.fields[part.fieldname] = part.value;
      }
    }
  } catch (error) {
    throw asClientError(error);
  }
  return form;
}

function uploadTarget(fields: Record<string, string>): {
  type: FolderType;
  subfolder: string;
  overwrite: boolean;
} {
  const type = fields.type || 'input';
  if (!isFolderType(type)) throw new HttpError(400, 'invalid_type', `Unknown type '${type}'`);
  return {
    type,
    subfolder: fields.subfolder ?? '',
    overwrite: fields.overwrite === 'true' || fields.overwrite === '1',
  };
}

function requireFile(form: UploadForm): { filename: string; bytes: Buffer } {
  if (!form.file?.filename) throw new HttpError(400, 'missing_file', "The 'image' file field is required");
  return form.file;
}

function contentDisposition(name: string, attachment: boolean): string {
  const ascii = name.replace(/[^\x20-\x7e]/g, '_').replace(/["\\]/g, '_');
  return `${attachment ? 'attachment' : 'inline'}; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}

/** /view, /upload/image, /upload/mask. */
export function registerFileRoutes(app: FastifyInstance, dirs: DataDirs, limits: ServerLimits): void {
  const uploadBodyLimit = limits.maxUploadBytes + 1024 * 1024;

  comfyRoute(app, 'GET', '/view', async (request: FastifyRequest, reply: FastifyReply) => {
    const q = query(request);
    if (!q.filename) throw new HttpError(400, 'invalid_filename', 'filename is required');
    const file = await locateFile(dirs, { filename: q.filename, subfolder: q.subfolder, type: q.type });
    const wantsTransform = Boolean(q.preview || (q.channel && q.channel !== 'rgba'));
    const transformed = wantsTransform ? await transformForView(await readFile(file.path), q) : null;
    reply.header('X-Content-Type-Options', 'nosniff');
    reply.header('Cache-Control', 'max-age=86400');
    if (transformed) {
      const name = file.name.replace(/\.[^.]*$/, '') + transformed.ext;
      return reply
        .type(transformed.mime)
        .header('Content-Disposition', contentDisposition(name, false))
        .send(transformed.bytes);
    }
    const mime = mimeOf(file.name);
    const active = isActiveContent(mime) && request.headers['sec-fetch-dest'] !== 'image';
    // Streamed: outputs may be large (videos, latents) and need not sit in memory.
    const { size } = await stat(file.path);
    return reply
      .type(active ? 'application/octet-stream' : mime)
      .header('Content-Disposition', contentDisposition(file.name, active))
      .header('Content-Length', size)
      .send(createReadStream(file.path));
  });

  const uploadOptions = { bodyLimit: uploadBodyLimit };

  const uploadImage = async (request: FastifyRequest) => {
    const form = await readUploadForm(request, limits);
    const file = requireFile(form);
    return saveUpload(dirs, { filename: file.filename, bytes: file.bytes, ...uploadTarget(form.fields) });
  };

  const uploadMask = async (request: FastifyRequest) => {
    const form = await readUploadForm(request, limits);
    const file = requireFile(form);
    let ref: { filename?: unknown; subfolder?: unknown; type?: unknown };
    try {
      ref = JSON.parse(form.fields.original_ref ?? '');
    } catch {
      throw new HttpError(
        400,
        'invalid_original_ref',
        'original_ref must be JSON {filename, subfolder, type}',
      );
    }
    if (typeof ref !== 'object' || ref === null || typeof ref.filename !== 'string') {
      throw new HttpError(400, 'invalid_original_ref', 'original_ref.filename is required');
    }
    const original = await locateFile(dirs, {
      filename: ref.filename,
      subfolder: typeof ref.subfolder === 'string' ? ref.subfolder : '',
      type: typeof ref.type === 'string' ? ref.type : 'output',
    });
    const originalBytes = await readFile(original.path);
    return saveUpload(dirs, {
      filename: file.filename,
      bytes: file.bytes,
      ...uploadTarget(form.fields),
      transform: (mask) => compositeMask(originalBytes, mask),
    });
  };

  for (const prefix of ['', '/api']) {
    app.post(`${prefix}/upload/image`, uploadOptions, uploadImage);
    app.post(`${prefix}/upload/mask`, uploadOptions, uploadMask);
  }
}
