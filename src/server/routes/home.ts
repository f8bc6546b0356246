import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import type { PromptService } from '../../engine/service-types.js';
import { version } from '../../shared/version.js';

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The status page shown at `/` when no front end is configured: what runs here and how to reach it. */
export async function statusPage(service: PromptService): Promise<string> {
  const info = (await service.objectInfo()) as Record<
    string,
    { display_name?: string; category?: string; description?: string }
  >;
  const rows = Object.entries(info)
    .sort(([, a], [, b]) => String(a.category).localeCompare(String(b.category)))
    .map(
      ([name, def]) =>
        `<tr><td><code>${escapeHtml(name)}</code></td><td>${escapeHtml(def.display_name ?? name)}</td>` +
        `<td>${escapeHtml(def.category ?? '')}</td><td>${escapeHtml(def.description ?? '')}</td></tr>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>cones-nodes</title>
<style>body{font:15px/1.5 system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}
code{font-size:90%}</style></head><body>
<h1>cones-nodes ${escapeHtml(version)}</h1>
<p>A ComfyUI-compatible service running Stable Diffusion 1.x and Cones concept neurons. Queue: ${service.queueRemaining()} prompt(s).</p>
<p>Connect a ComfyUI client or SDK to this address (HTTP routes such as <a href="object_info">/object_info</a>,
<a href="queue">/queue</a>, <a href="history">/history</a>, <a href="system_stats">/system_stats</a>; WebSocket <code>/ws</code>),
or the native protocol at <code>/native</code> (schema: <code>schemas/protocol/native.schema.json</code>).
Serve a built ComfyUI front end here with <code>cones-nodes serve --front-end DIR</code>.
Documentation: the project README, sections "Service &amp; protocol".</p>
<h2>Nodes (${Object.keys(info).length})</h2>
<table><thead><tr><th>class_type</th><th>Name</th><th>Category</th><th>Description</th></tr></thead><tbody>
${rows}
</tbody></table></body></html>`;
}

/** `GET /`: a built front end when configured (index.html never cached, as ComfyUI), else the status page. */
export async function registerHome(
  app: FastifyInstance,
  service: PromptService,
  frontEnd?: string,
): Promise<void> {
  if (frontEnd) {
    const root = resolve(frontEnd);
    const s = await stat(root).catch(() => null);
    if (!s?.isDirectory()) throw new Error(`--front-end: '${root}' is not a folder`);
    await app.register(fastifyStatic, {
      root,
      prefix: '/',
      index: ['index.html'],
      wildcard: true,
      setHeaders(res, path) {
        if (path.endsWith('index.html')) res.header('Cache-Control', 'no-store, must-revalidate');
        else if (/\.(js|css)$|index.*\.json$/.test(path)) res.header('Cache-Control', 'no-cache');
      },
    });
    return;
  }
  app.get('/', async (_request, reply) =>
    reply
      .type('text/html; charset=utf-8')
      .header('Cache-Control', 'no-store')
      .send(await statusPage(service)),
  );
}
