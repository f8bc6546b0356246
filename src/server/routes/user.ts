import type { FastifyInstance, FastifyReply } from 'fastify';
import { comfyRoute, jsonBody, jsonObjectBody, params, query, rawBody, sendJson } from '../http-app.js';
import { HttpError } from '../http-error.js';
import type { FileInfo, UserStore } from '../user-store.js';

const flag = (value: string | undefined, fallback: boolean) =>
  value === undefined ? fallback : value === 'true' || value === '1';

/** ComfyUI answers a saved file with its info object, or with its relative path as a JSON string. */
function sendInfo(reply: FastifyReply, info: FileInfo, fullInfo: boolean): FastifyReply {
  return sendJson(reply, fullInfo ? info : info.path);
}

/** /users, /settings and the /userdata family (single-user mode, ComfyUI's "default" user). */
export function registerUserRoutes(app: FastifyInstance, store: UserStore): void {
  comfyRoute(app, 'GET', '/users', async () => ({ storage: 'server', migrated: true }));
  comfyRoute(app, 'POST', '/users', async (_request, reply) =>
    reply.code(400).send({ error: 'Multi-user mode is not enabled on this server' }),
  );

  comfyRoute(app, 'GET', '/settings', async () => store.getSettings());
  comfyRoute(app, 'GET', '/settings/:id', async (request, reply) => {
    const settings = await store.getSettings();
    const id = params(request).id;
    return sendJson(reply, Object.hasOwn(settings, id) ? settings[id] : null);
  });
  comfyRoute(app, 'POST', '/settings', async (request, reply) => {
    await store.updateSettings(jsonObjectBody(request));
    return reply.code(200).send('');
  });
  comfyRoute(app, 'POST', '/settings/:id', async (request, reply) => {
    // An empty body is how the front end deletes a setting.
    await store.updateSettings({ [params(request).id]: jsonBody(request) });
    return reply.code(200).send('');
  });

  comfyRoute(app, 'GET', '/userdata', async (request) => {
    const q = query(request);
    if (!q.dir) throw new HttpError(400, 'invalid_path', 'dir is required');
    return store.list(q.dir, {
      recurse: flag(q.recurse, false),
      fullInfo: flag(q.full_info, false),
      split: flag(q.split, false),
    });
  });
  comfyRoute(app, 'GET', '/v2/userdata', async (request) => store.listV2(query(request).path ?? ''));

  comfyRoute(app, 'GET', '/userdata/:file', async (request, reply) => {
    const file = params(request).file;
    const { bytes } = await store.read(file);
    if (file === 'user.css') return reply.type('text/css; charset=utf-8').send(bytes);
    const name = file.split('/').pop()!;
    return reply
      .type(name.endsWith('.json') ? 'application/json' : 'application/octet-stream')
      .header('Content-Disposition', `attachment; filename="${name.replace(/["\\\r\n]/g, '_')}"`)
      .header('X-Content-Type-Options', 'nosniff')
      .send(bytes);
  });
  comfyRoute(app, 'POST', '/userdata/:file', async (request, reply) => {
    const q = query(request);
    const path = await store.write(params(request).file, rawBody(request), flag(q.overwrite, true));
    return sendInfo(reply, await store.info(path), flag(q.full_info, false));
  });
  comfyRoute(app, 'DELETE', '/userdata/:file', async (request, reply) => {
    await store.remove(params(request).file);
    return reply.code(204).send();
  });
  comfyRoute(app, 'POST', '/userdata/:file/move/:dest', async (request, reply) => {
    const q = query(request);
    const p = params(request);
    const path = await store.move(p.file, p.dest, flag(q.overwrite, true));
    return sendInfo(reply, await store.info(path), flag(q.full_info, false));
  });
}
