import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSafetensors } from '../../src/cones/safetensors.js';
import { insertPngChunks, pngTextChunk, rawTextChunks } from '../../src/image/png-text.js';
import { gradientPng, json, startTestServer, type TestServer } from './helpers.js';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.dispose();
});

async function get(path: string, init?: RequestInit) {
  return fetch(server.url + path, init);
}

async function upload(path: string, fields: Record<string, string | { name: string; bytes: Buffer }>) {
  const form = new FormData();
  for (const [key, value] of Object.entries(fields)) {
    if (typeof value === 'string') form.append(key, value);
    else form.append(key, new Blob([value.bytes], { type: 'image/png' }), value.name);
  }
  return fetch(server.url + path, { method: 'POST', body: form });
}

describe('ComfyUI route table', () => {
  const doubled = [
    '/prompt',
    '/queue',
    '/history',
    '/object_info',
    '/object_info/LoadImage',
    '/system_stats',
    '/features',
    '/embeddings',
    '/extensions',
    '/models',
    '/models/checkpoints',
    '/users',
    '/settings',
    '/i18n',
    '/experiment/models',
    '/global_subgraphs',
    '/workflow_templates',
    '/v2/userdata',
  ];

  it.each(doubled)('answers %s both bare and under /api with JSON', async (path) => {
    for (const prefix of ['', '/api']) {
      const res = await get(prefix + path);
      expect(res.status, prefix + path).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/json/);
      await json(res);
    }
  });

  it('serves /internal only without the /api prefix and the jobs API only under /api', async () => {
    expect((await get('/internal/logs')).status).toBe(200);
    expect((await get('/internal/folder_paths')).status).toBe(200);
    expect((await get('/api/internal/logs')).status).toBe(404);
    expect((await get('/api/jobs')).status).toBe(200);
    expect((await get('/api/api/jobs')).status).toBe(200);
    expect((await get('/jobs')).status).toBe(404);
  });

  it('answers unknown node classes with 200 {} and known ones with their definition', async () => {
    expect(await json(get('/object_info/Primitive%20boolean%20%5BCrystools%5D'))).toEqual({});
    const one = await json(get('/object_info/ImageScale'));
    expect(Object.keys(one)).toEqual(['ImageScale']);
    expect(one.ImageScale.output).toEqual(['IMAGE']);
  });

  it('answers an unknown or running history id with 200 {}', async () => {
    expect(await json(get('/history/00000000-0000-4000-8000-000000000000'))).toEqual({});
  });

  it('reports the queue size on GET /prompt and exposes upload limits as a feature flag', async () => {
    expect(await json(get('/prompt'))).toEqual({ exec_info: { queue_remaining: 0 } });
    const flags = await json(get('/features'));
    expect(flags.max_upload_size).toBe(100 * 1024 * 1024);
  });

  it('rejects a body without prompt with no_prompt and an unknown class with missing_node_type', async () => {
    const none = await get('/prompt', { method: 'POST', body: '{}' });
    expect(none.status).toBe(400);
    expect((await json(none)).error.type).toBe('no_prompt');
    const unknown = await get('/prompt', {
      method: 'POST',
      body: JSON.stringify({ prompt: { '1': { class_type: 'NoSuchNode', inputs: {} } } }),
    });
    expect(unknown.status).toBe(400);
    const body = await json(unknown);
    expect(body.error.type).toBe('missing_node_type');
    expect(body.node_errors).toEqual({});
  });

  it('answers malformed JSON bodies with 400 invalid_json', async () => {
    const res = await get('/prompt', { method: 'POST', body: '{"prompt": ' });
    expect(res.status).toBe(400);
    expect((await json(res)).error.type).toBe('invalid_json');
  });

  it('parses JSON bodies sent as text/plain or without a content type', async () => {
    const prompt = {
      '1': { class_type: 'TestConstant', inputs: { value: 3 } },
      '2': { class_type: 'TestOutput', inputs: { value: ['1', 0] } },
    };
    for (const headers of [{ 'content-type': 'text/plain;charset=UTF-8' }, {}] as Array<
      Record<string, string>
    >) {
      const res = await get('/prompt', { method: 'POST', body: JSON.stringify({ prompt }), headers });
      expect(res.status).toBe(200);
      const { prompt_id } = await json(res);
      expect(prompt_id).toMatch(/^[0-9a-f-]{36}$/);
    }
  });

  it("serves a safetensors file's __metadata__ on /view_metadata and 404 for a file without one", async () => {
    const folder = server.dirs.models.checkpoints[0];
    const tensor = { dtype: 'F32', shape: [2], data: new Uint8Array(8) };
    await writeFile(
      join(folder, 'with-meta.safetensors'),
      writeSafetensors(new Map([['w', tensor]]), { 'modelspec.title': 'demo' }),
    );
    await writeFile(join(folder, 'no-meta.safetensors'), writeSafetensors(new Map([['w', tensor]]), {}));
    await writeFile(join(folder, 'garbage.safetensors'), Buffer.from('not a safetensors file'));
    const found = await get('/api/view_metadata/checkpoints?filename=with-meta.safetensors');
    expect(found.status).toBe(200);
    expect(await found.json()).toEqual({ 'modelspec.title': 'demo' });
    for (const name of ['no-meta.safetensors', 'garbage.safetensors', 'missing.safetensors', 'x.ckpt']) {
      expect((await get(`/view_metadata/checkpoints?filename=${name}`)).status).toBe(404);
    }
    expect((await get('/view_metadata/nonsense?filename=a.safetensors')).status).toBe(404);
  });

  it('serves a status page at / that lists the nodes', async () => {
    const res = await get('/');
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    const html = await res.text();
    expect(html).toContain('LoadImage');
    expect(html).toContain('TestSleep');
  });
});

describe('settings and user data', () => {
  it('persists settings on disk under user/ and keeps them across a restart', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'cones-settings-'));
    try {
      const first = await startTestServer({ dataDir });
      await fetch(`${first.url}/api/settings/Comfy.Theme`, {
        method: 'POST',
        body: '"dark"',
        headers: { 'content-type': 'text/plain' },
      });
      await fetch(`${first.url}/settings`, {
        method: 'POST',
        body: JSON.stringify({ 'Comfy.A': 1, 'Comfy.B': [1, 2] }),
      });
      await first.dispose();
      const stored = JSON.parse(
        await readFile(join(dataDir, 'user', 'default', 'comfy.settings.json'), 'utf8'),
      );
      expect(stored).toEqual({ 'Comfy.Theme': 'dark', 'Comfy.A': 1, 'Comfy.B': [1, 2] });
      const second = await startTestServer({ dataDir });
      expect(await json(fetch(`${second.url}/settings`))).toEqual(stored);
      expect(await json(fetch(`${second.url}/settings/Comfy.Theme`))).toBe('dark');
      expect(await json(fetch(`${second.url}/settings/Missing`))).toBe(null);
      await second.dispose();
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('stores, lists, moves and deletes workflows through /userdata', async () => {
    const workflow = JSON.stringify({ nodes: [], links: [], version: 0.4 });
    const saved = await get('/api/userdata/workflows%2Fa.json', { method: 'POST', body: workflow });
    expect(saved.status).toBe(200);
    expect(await json(saved)).toBe('workflows/a.json');
    expect(await json(get('/api/userdata?dir=workflows'))).toEqual(['a.json']);
    const full = await (
      await get('/api/userdata?dir=workflows&recurse=true&split=false&full_info=true')
    ).json();
    expect(full).toEqual([expect.objectContaining({ path: 'a.json', size: workflow.length })]);
    expect(await (await get('/api/userdata/workflows%2Fa.json')).text()).toBe(workflow);

    const refused = await get('/api/userdata/workflows%2Fa.json?overwrite=false', {
      method: 'POST',
      body: '{}',
    });
    expect(refused.status).toBe(409);

    const moved = await get('/api/userdata/workflows%2Fa.json/move/workflows%2Fsub%2Fb.json?full_info=true', {
      method: 'POST',
    });
    expect((await json(moved)).path).toBe('workflows/sub/b.json');
    expect(await json(get('/api/userdata?dir=workflows&recurse=true'))).toEqual(['sub/b.json']);
    expect((await get('/api/userdata/workflows%2Fa.json')).status).toBe(404);

    expect((await get('/api/userdata/workflows%2Fsub%2Fb.json', { method: 'DELETE' })).status).toBe(204);
    expect((await get('/api/userdata/workflows%2Fsub%2Fb.json')).status).toBe(404);
    const v2 = await json(get('/api/v2/userdata?path=workflows'));
    expect(v2).toEqual([{ name: 'sub', path: 'workflows/sub', type: 'directory' }]);
  });
});

describe('uploads and /view', () => {
  it('uploads an image and reuses the name for identical bytes, numbering different ones', async () => {
    const png = await gradientPng(8, 6);
    const first = await json(upload('/upload/image', { image: { name: 'pic.png', bytes: png } }));
    expect(first).toEqual({ name: 'pic.png', subfolder: '', type: 'input' });
    const same = await json(upload('/api/upload/image', { image: { name: 'pic.png', bytes: png } }));
    expect(same.name).toBe('pic.png');
    const other = await json(
      upload('/upload/image', { image: { name: 'pic.png', bytes: await gradientPng(9, 6) } }),
    );
    expect(other.name).toBe('pic (1).png');
    const replaced = await json(
      upload('/upload/image', {
        image: { name: 'pic.png', bytes: await gradientPng(5, 5) },
        overwrite: 'true',
      }),
    );
    expect(replaced.name).toBe('pic.png');
    expect((await sharp(await readFile(join(server.dirs.input, 'pic.png'))).metadata()).width).toBe(5);
  });

  it('uploads into a subfolder of temp and serves it back byte for byte', async () => {
    const png = await gradientPng(7, 3);
    const res = await upload('/upload/image', {
      image: { name: 'x.png', bytes: png },
      subfolder: 'pasted',
      type: 'temp',
    });
    expect(await json(res)).toEqual({ name: 'x.png', subfolder: 'pasted', type: 'temp' });
    const view = await get('/view?filename=x.png&subfolder=pasted&type=temp');
    expect(view.status).toBe(200);
    expect(view.headers.get('content-type')).toBe('image/png');
    expect(view.headers.get('x-content-type-options')).toBe('nosniff');
    expect(Buffer.from(await view.arrayBuffer()).equals(png)).toBe(true);
    const annotated = await get(`/api/view?filename=${encodeURIComponent('x.png [temp]')}&subfolder=pasted`);
    expect(annotated.status).toBe(200);
  });

  it('re-encodes previews and extracts channels as ComfyUI does', async () => {
    const png = await gradientPng(10, 10, true);
    await upload('/upload/image', { image: { name: 'alpha.png', bytes: png } });
    const jpeg = await get('/view?filename=alpha.png&type=input&preview=jpeg;50&channel=rgb');
    expect(jpeg.headers.get('content-type')).toBe('image/jpeg');
    expect((await sharp(Buffer.from(await jpeg.arrayBuffer())).metadata()).format).toBe('jpeg');
    const webp = await get('/view?filename=alpha.png&type=input&preview=jpeg');
    expect(webp.headers.get('content-type')).toBe('image/webp');
    const rgb = await get('/view?filename=alpha.png&type=input&channel=rgb');
    expect((await sharp(Buffer.from(await rgb.arrayBuffer())).metadata()).channels).toBe(3);
    const a = await get('/view?filename=alpha.png&type=input&channel=a');
    const { data, info } = await sharp(Buffer.from(await a.arrayBuffer()))
      .raw()
      .toBuffer({ resolveWithObject: true });
    expect(info.channels).toBe(4);
    // Row 9's alpha is 255, row 0's is 0; colour is black.
    expect(data[(9 * 10 + 3) * 4 + 3]).toBe(255);
    expect(data[3]).toBe(0);
    expect(data[(9 * 10 + 3) * 4]).toBe(0);
  });

  it('composites an uploaded mask into the original image alpha, keeping its text chunks', async () => {
    const original = insertPngChunks(await gradientPng(12, 8), [pngTextChunk('workflow', '{"nodes":[]}')]);
    await writeFile(join(server.dirs.output, 'orig.png'), original);
    const mask = await gradientPng(6, 4, true);
    const res = await upload('/upload/mask', {
      image: { name: 'mask.png', bytes: mask },
      original_ref: JSON.stringify({ filename: 'orig.png', subfolder: '', type: 'output' }),
    });
    expect(res.status).toBe(200);
    const ref = await json(res);
    expect(ref).toEqual({ name: 'mask.png', subfolder: '', type: 'input' });
    const stored = await readFile(join(server.dirs.input, 'mask.png'));
    const { data, info } = await sharp(stored).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.channels]).toEqual([12, 8, 4]);
    const originalRgb = await sharp(original).raw().toBuffer();
    expect(data[(5 * 12 + 11) * 4]).toBe(originalRgb[(5 * 12 + 11) * 3]);
    expect(data[3]).toBe(0); // top row of the mask is transparent
    expect(data[7 * 12 * 4 + 3]).toBe(255); // bottom row opaque
    expect(rawTextChunks(stored).map((c) => c.toString('latin1', 8, 16))).toEqual(['workflow']);
  });

  it('answers a mask upload whose original is missing with 404', async () => {
    const res = await upload('/upload/mask', {
      image: { name: 'm.png', bytes: await gradientPng(2, 2, true) },
      original_ref: JSON.stringify({ filename: 'missing.png', type: 'output' }),
    });
    expect(res.status).toBe(404);
  });
});

describe('--front-end', () => {
  it('serves a built front end at / (index.html never cached) beside the API routes', async () => {
    const dist = await mkdtemp(join(tmpdir(), 'cones-fe-'));
    await writeFile(join(dist, 'index.html'), '<!doctype html><title>fe</title>');
    await import('node:fs/promises').then((fs) => fs.mkdir(join(dist, 'assets')));
    await writeFile(join(dist, 'assets', 'app.js'), 'console.log(1)');
    const fe = await startTestServer({ frontEnd: dist });
    try {
      const index = await fetch(`${fe.url}/`);
      expect(await index.text()).toContain('<title>fe</title>');
      expect(index.headers.get('cache-control')).toBe('no-store, must-revalidate');
      const js = await fetch(`${fe.url}/assets/app.js`);
      expect(js.status).toBe(200);
      expect(js.headers.get('cache-control')).toBe('no-cache');
      expect((await fetch(`${fe.url}/api/object_info/LoadImage`)).status).toBe(200);
      expect((await fetch(`${fe.url}/missing.js`)).status).toBe(404);
    } finally {
      await fe.dispose();
      await rm(dist, { recursive: true, force: true });
    }
  });
});
