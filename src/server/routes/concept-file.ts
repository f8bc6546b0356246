import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import { CONCEPT_EXTENSION } from '../../cones/file.js';
import type { DataDirs } from '../../shared/types.js';
import { comfyRoute, query } from '../http-app.js';
import { HttpError } from '../http-error.js';
import { resolveInside } from '../safe-path.js';

/**
 * `GET /cones/concept?name=<Load Concept name>`: the concept file's bytes, with its SHA-256 in
 * `X-Cones-Sha256`, for the front-end extension's "Embed concepts in workflow". Names are relative
 * paths inside the concept folders (`models/concepts`, linked folders followed as for every model
 * folder); an escape is 403, anything else that is not a concept file 404.
 */
export function registerConceptFileRoute(app: FastifyInstance, dirs: DataDirs): void {
  comfyRoute(app, 'GET', '/cones/concept', async (request, reply) => {
    const name = query(request).name;
    if (typeof name !== 'string' || !name)
      throw new HttpError(400, 'missing_name', 'Query parameter name is required');
    if (!name.endsWith(CONCEPT_EXTENSION))
      throw new HttpError(400, 'invalid_concept_name', `Concept names end with ${CONCEPT_EXTENSION}`);
    for (const base of dirs.models.concepts ?? []) {
      const path = resolveInside(base, name);
      const found = await stat(path).catch(() => null);
      if (!found?.isFile()) continue;
      const bytes = await readFile(path);
      return reply
        .header('Content-Type', 'application/octet-stream')
        .header('X-Cones-Sha256', createHash('sha256').update(bytes).digest('hex'))
        .send(bytes);
    }
    throw new HttpError(404, 'not_found', `No concept file '${name}'`);
  });
}
