import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { comfyRoute } from '../http-app.js';
import { HttpError } from '../http-error.js';
import { resolveInside } from '../safe-path.js';

/** The pack name in `/extensions/<pack>/<file>.js`, as ComfyUI names a custom node pack's web folder. */
export const WEB_EXTENSION_PACK = 'cones-nodes';
const ENTRY = 'cones-nodes.js';
const SERVED_FILE = /^[A-Za-z0-9_.-]+\.(js|js\.map|css)$/;

/** `dist/web` of this package when the front-end extension is built (`npm run build`), else undefined. */
export function builtWebExtensionDir(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, 'dist', 'web');
    if (existsSync(join(candidate, ENTRY))) return candidate;
    dir = dirname(dir);
  }
  return undefined;
}

/**
 * ComfyUI's extension discovery: `GET /extensions` lists `/extensions/<pack>/<file>.js` for every
 * script of the built extension (the front end imports each), and the files are served from `dir`.
 * Without a built extension the list is empty, as on a ComfyUI without custom web folders.
 */
export function registerWebExtension(app: FastifyInstance, dir: string | undefined): void {
  comfyRoute(app, 'GET', '/extensions', async () => {
    if (!dir) return [];
    const files = await readdir(dir).catch(() => [] as string[]);
    return files
      .filter((f) => f.endsWith('.js'))
      .sort()
      .map((f) => `/extensions/${WEB_EXTENSION_PACK}/${f}`);
  });
  // Not under /api: front ends import these paths as they are listed.
  app.get(`/extensions/${WEB_EXTENSION_PACK}/:file`, async (request, reply) => {
    const file = (request.params as { file: string }).file;
    if (!dir || !SERVED_FILE.test(file)) throw new HttpError(404, 'not_found', 'No such extension file');
    const bytes = await readFile(resolveInside(dir, file)).catch(() => null);
    if (!bytes) throw new HttpError(404, 'not_found', 'No such extension file');
    const type = file.endsWith('.css')
      ? 'text/css; charset=utf-8'
      : file.endsWith('.map')
        ? 'application/json; charset=utf-8'
        : 'text/javascript; charset=utf-8';
    return reply.header('Content-Type', type).header('Cache-Control', 'no-cache').send(bytes);
  });
}
