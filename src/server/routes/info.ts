import { readdir, stat } from 'node:fs/promises';
import { freemem, totalmem } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { PromptService } from '../../engine/service-types.js';
import { SafetensorsFile } from '../../sd/checkpoint/safetensors-reader.js';
import type { DataDirs } from '../../shared/types.js';
import { version } from '../../shared/version.js';
import { serverFeatureFlags } from '../feature-flags.js';
import { comfyRoute, jsonObjectBody, ok, params, query, sendJson } from '../http-app.js';
import { HttpError } from '../http-error.js';
import { listModelFiles, MODEL_EXTENSIONS } from '../model-files.js';
import type { ServerLimits } from '../options.js';
import type { Redactor } from '../redact.js';
import { resolveInside } from '../safe-path.js';

export interface InfoContext {
  service: PromptService;
  dirs: DataDirs;
  limits: ServerLimits;
  /** `argv` in /system_stats shows the command line without the auth token. */
  redactor: Redactor;
  /** Client ids that asked for `logs` events (PATCH /internal/logs/subscribe). */
  logSubscribers: Set<string>;
  /** `/system_stats` devices when the runtime is elsewhere (one per queue worker); default this CPU. */
  runtimeDevices?: () => Promise<object[]>;
}

/** A safetensors file's `__metadata__` (the checkpoint reader validates the header); null when absent or unreadable. */
async function safetensorsMetadata(path: string): Promise<Record<string, string> | null> {
  try {
    const file = await SafetensorsFile.open(path);
    await file.close();
    return Object.keys(file.metadata).length > 0 ? { ...file.metadata } : null;
  } catch {
    return null;
  }
}

/** Node catalog, system info, model lists and the informational routes front ends and SDKs probe. */
export function registerInfoRoutes(app: FastifyInstance, ctx: InfoContext): void {
  const { service, dirs, limits } = ctx;

  comfyRoute(app, 'GET', '/object_info', async () => service.objectInfo());
  comfyRoute(app, 'GET', '/object_info/:node_class', async (request) => {
    const name = params(request).node_class;
    const all = await service.objectInfo();
    // Unknown classes answer 200 {} (saintno's feature probe depends on it).
    return Object.hasOwn(all, name) ? { [name]: all[name] } : {};
  });

  comfyRoute(app, 'GET', '/system_stats', async () => ({
    system: {
      os: process.platform === 'win32' ? 'nt' : 'posix',
      ram_total: totalmem(),
      ram_free: freemem(),
      comfyui_version: version,
      python_version: `Node.js ${process.version}`,
      pytorch_version: 'onnxruntime-node',
      embedded_python: false,
      argv: ctx.redactor.argv(process.argv.slice(1)),
      server: 'cones-nodes',
    },
    devices: ctx.runtimeDevices
      ? await ctx.runtimeDevices()
      : [
          {
            name: 'cpu',
            type: 'cpu',
            index: 0,
            vram_total: totalmem(),
            vram_free: freemem(),
            torch_vram_total: 0,
            torch_vram_free: 0,
          },
        ],
  }));

  comfyRoute(app, 'GET', '/features', async () => serverFeatureFlags(limits));
  comfyRoute(app, 'GET', '/embeddings', async () => {
    const files = await listModelFiles(dirs.models.embeddings ?? []);
    return files.map((f) => f.name.replace(/\.[^.]+$/, ''));
  });
  comfyRoute(app, 'GET', '/i18n', async () => ({}));
  comfyRoute(app, 'GET', '/global_subgraphs', async () => ({}));
  comfyRoute(app, 'GET', '/global_subgraphs/:id', async (_request, reply) => sendJson(reply, null));
  comfyRoute(app, 'GET', '/workflow_templates', async () => ({}));

  comfyRoute(app, 'GET', '/models', async () => Object.keys(dirs.models));
  comfyRoute(app, 'GET', '/models/:folder', async (request) => {
    const paths = modelFolder(params(request).folder);
    return (await listModelFiles(paths)).map((f) => f.name);
  });
  comfyRoute(app, 'GET', '/experiment/models', async () =>
    Object.entries(dirs.models).map(([name, folders]) => ({ name, folders, extensions: MODEL_EXTENSIONS })),
  );
  comfyRoute(app, 'GET', '/experiment/models/:folder', async (request) => {
    const files = await listModelFiles(modelFolder(params(request).folder));
    return files.map((f) => ({
      name: f.name,
      pathIndex: f.pathIndex,
      modified: f.modified,
      created: f.created,
      size: f.size,
    }));
  });
  comfyRoute(app, 'GET', '/view_metadata/:folder', async (request, reply) => {
    const paths = modelFolder(params(request).folder);
    const filename = query(request).filename;
    if (!filename?.endsWith('.safetensors'))
      throw new HttpError(404, 'not_found', 'No such safetensors file');
    for (const base of paths) {
      const path = resolveInside(base, filename);
      const found = await stat(path).catch(() => null);
      if (!found?.isFile()) continue;
      const metadata = await safetensorsMetadata(path);
      if (metadata) return metadata;
    }
    return reply.code(404).send({ error: { type: 'not_found', message: 'No metadata' } });
  });

  function modelFolder(folder: string): string[] {
    const paths = Object.hasOwn(dirs.models, folder) ? dirs.models[folder] : undefined;
    if (!paths) throw new HttpError(404, 'not_found', `Unknown model folder '${folder}'`);
    return paths;
  }

  // /internal/* is a sub-application in ComfyUI: no /api twin.
  app.get('/internal/logs', async (_request, reply) => sendJson(reply, ''));
  app.get('/internal/logs/raw', async () => ({ entries: [], size: { cols: null, rows: null } }));
  app.patch('/internal/logs/subscribe', async (request, reply) => {
    const body = jsonObjectBody(request);
    if (typeof body.clientId === 'string') {
      if (body.enabled === false) ctx.logSubscribers.delete(body.clientId);
      else ctx.logSubscribers.add(body.clientId);
    }
    return ok(reply);
  });
  app.get('/internal/folder_paths', async () => ({
    ...dirs.models,
    input: [dirs.input],
    output: [dirs.output],
    temp: [dirs.temp],
  }));
  app.get('/internal/files/:directory_type', async (request) => {
    const type = params(request).directory_type;
    const base =
      type === 'input' ? dirs.input : type === 'output' ? dirs.output : type === 'temp' ? dirs.temp : null;
    if (!base) throw new HttpError(400, 'invalid_type', `Unknown directory type '${type}'`);
    const entries = await readdir(base, { withFileTypes: true }).catch(() => []);
    const files = await Promise.all(
      entries
        .filter((e) => e.isFile())
        .map(async (e) => ({ name: e.name, mtime: (await stat(join(base, e.name))).mtimeMs })),
    );
    return files.sort((a, b) => b.mtime - a.mtime).map((f) => f.name);
  });
}
