import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startServer } from '../../src/server/index.js';
import { gradientPng, json, startTestServer, type TestServer } from './helpers.js';
import { NativeClient } from './native/native-client.js';

/** Opens a WebSocket and reports how the handshake ended: 'open' or the HTTP status of the refusal. */
function handshake(url: string, options: WebSocket.ClientOptions = {}): Promise<'open' | number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, options);
    ws.on('open', () => {
      ws.close();
      resolve('open');
    });
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.on('error', () => {});
  });
}

function uploadForm(name: string, bytes: Buffer, fields: Record<string, string> = {}): FormData {
  const form = new FormData();
  form.append('image', new Blob([bytes], { type: 'image/png' }), name);
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  return form;
}

describe('origin checks on a loopback server', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server?.dispose());

  it('refuses cross-origin HTTP requests with 403 forbidden_origin and accepts same-origin ones', async () => {
    const cross = await fetch(`${server.url}/prompt`, { headers: { origin: 'http://evil.example' } });
    expect(cross.status).toBe(403);
    expect((await json(cross)).error.type).toBe('forbidden_origin');
    const crossPost = await fetch(`${server.url}/prompt`, {
      method: 'POST',
      headers: { origin: 'http://127.0.0.1:1' },
      body: '{"prompt":{}}',
    });
    expect(crossPost.status).toBe(403);
    const same = await fetch(`${server.url}/prompt`, { headers: { origin: server.url } });
    expect(same.status).toBe(200);
  });

  it('refuses cross-origin WebSocket handshakes on /ws and /native with 403', async () => {
    const ws = server.url.replace('http', 'ws');
    expect(await handshake(`${ws}/ws`, { origin: 'http://evil.example' })).toBe(403);
    expect(await handshake(`${ws}/native`, { origin: 'http://evil.example' })).toBe(403);
    expect(await handshake(`${ws}/ws`, { origin: server.url })).toBe('open');
  });

  it('refuses a non-loopback Host header (DNS rebinding) with 403 forbidden_host', async () => {
    const { request } = await import('node:http');
    const status = await new Promise<{ status: number; body: string }>((resolve) => {
      const req = request(`${server.url}/object_info`, { headers: { host: 'evil.example:80' } }, (res) => {
        let body = '';
        res.on('data', (c) => {
          body += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.end();
    });
    expect(status.status).toBe(403);
    expect(JSON.parse(status.body).error.type).toBe('forbidden_host');
  });
});

describe('path safety', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server?.dispose());

  it.each([
    ['/view?filename=../secret.png', 400, 'invalid_filename'],
    ['/view?filename=/etc/passwd', 400, 'invalid_filename'],
    ['/view?filename=..%2F..%2Fetc%2Fpasswd&type=input', 400, 'invalid_filename'],
    ['/view?filename=passwd&subfolder=../../../../etc', 403, 'path_escape'],
    ['/view?filename=passwd&subfolder=/etc', 403, 'path_escape'],
    ['/view?filename=x.png&type=secrets', 400, 'invalid_type'],
    ['/view?filename=missing.png', 404, 'not_found'],
  ])('GET %s → %i %s', async (path, status, type) => {
    const res = await fetch(server.url + path);
    expect(res.status).toBe(status);
    expect((await json(res)).error.type).toBe(type);
  });

  it('refuses upload subfolders that escape with 400 path_escape', async () => {
    const png = await gradientPng(2, 2);
    for (const subfolder of ['../..', '/tmp', 'a/../../b']) {
      const res = await fetch(`${server.url}/upload/image`, {
        method: 'POST',
        body: uploadForm('a.png', png, { subfolder }),
      });
      expect(res.status).toBe(400);
      expect((await json(res)).error.type).toBe('path_escape');
    }
  });

  it('keeps only the last segment of an uploaded file name', async () => {
    const png = await gradientPng(2, 2);
    const res = await fetch(`${server.url}/upload/image`, {
      method: 'POST',
      body: uploadForm('../../evil.png', png),
    });
    expect(res.status).toBe(200);
    expect((await json(res)).name).toBe('evil.png');
    expect(await readdir(server.dirs.input)).toContain('evil.png');
    expect(await readdir(server.dataDir)).not.toContain('evil.png');
  });

  it('refuses unusable upload names and missing files with 400', async () => {
    const png = await gradientPng(2, 2);
    const dots = await fetch(`${server.url}/upload/image`, { method: 'POST', body: uploadForm('...', png) });
    expect(dots.status).toBe(400);
    expect((await json(dots)).error.type).toBe('invalid_filename');
    const form = new FormData();
    form.append('subfolder', 'x');
    const none = await fetch(`${server.url}/upload/image`, { method: 'POST', body: form });
    expect(none.status).toBe(400);
    expect((await json(none)).error.type).toBe('missing_file');
  });

  it.each([
    ['GET', '/userdata/..%2F..%2Fsecret.json'],
    ['POST', '/userdata/..%2Fdefault2%2Fx.json'],
    ['DELETE', '/api/userdata/..%2F..%2Fx'],
    ['POST', '/userdata/a.json/move/..%2F..%2Fb.json'],
    ['GET', '/userdata?dir=../..'],
  ])('%s %s → 403 path_escape', async (method, path) => {
    if (method === 'POST' && path.includes('/move/')) {
      await fetch(`${server.url}/userdata/a.json`, { method: 'POST', body: '{}' });
    }
    const res = await fetch(server.url + path, { method, ...(method === 'POST' && { body: '{}' }) });
    expect(res.status).toBe(403);
    expect((await json(res)).error.type).toBe('path_escape');
  });
});

describe('size limits', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({
      limits: {
        maxBodyBytes: 4096,
        maxUploadBytes: 2048,
        maxComfyFrameBytes: 1024,
        maxNativeFrameBytes: 4096,
      },
    });
  });
  afterAll(() => server?.dispose());

  it('answers an oversized JSON body with 413 body_too_large', async () => {
    const body = JSON.stringify({
      prompt: { '1': { class_type: 'TestConstant', inputs: { value: 1 } } },
      pad: 'x'.repeat(5000),
    });
    const res = await fetch(`${server.url}/prompt`, { method: 'POST', body });
    expect(res.status).toBe(413);
    expect((await json(res)).error.type).toBe('body_too_large');
    const userdata = await fetch(`${server.url}/userdata/big.json`, {
      method: 'POST',
      body: 'x'.repeat(5000),
    });
    expect(userdata.status).toBe(413);
  });

  it('answers an oversized upload with 413 upload_too_large and stores nothing', async () => {
    const res = await fetch(`${server.url}/upload/image`, {
      method: 'POST',
      body: uploadForm('big.png', Buffer.alloc(3000, 7)),
    });
    expect(res.status).toBe(413);
    expect((await json(res)).error.type).toBe('upload_too_large');
    expect(await readdir(server.dirs.input)).not.toContain('big.png');
    expect((await json(fetch(`${server.url}/features`))).max_upload_size).toBe(2048);
  });

  it('refuses a native upload above the upload limit with an upload_too_large error reply', async () => {
    const client = await NativeClient.open(`${server.url.replace('http', 'ws')}/native`, 'msgpack');
    const reply = await client.request('upload', { filename: 'big.png', bytes: new Uint8Array(3000) });
    expect(reply.type).toBe('error');
    expect(reply.data).toMatchObject({ code: 'request_failed', reason: 'upload_too_large' });
    expect((await client.request('queue')).type).toBe('queue');
    client.close();
  });

  it('closes a socket that sends an oversized frame with 1009 and keeps serving others', async () => {
    const ws = server.url.replace('http', 'ws');
    for (const [path, size] of [
      ['/ws', 2000],
      ['/native', 5000],
    ] as const) {
      const socket = new WebSocket(`${ws}${path}`);
      await new Promise((r) => socket.once('open', r));
      const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
      socket.send(Buffer.alloc(size, 1));
      expect(await closed).toBe(1009);
    }
    expect(await handshake(`${ws}/native`)).toBe('open');
  });
});

describe('auth token', () => {
  let server: TestServer;
  const token = 's3cret-token-for-tests';
  beforeAll(async () => {
    server = await startTestServer({ authToken: token });
  });
  afterAll(() => server?.dispose());

  it('answers requests without a token or with a wrong one with 401 unauthorized', async () => {
    for (const init of [
      {},
      { headers: { authorization: 'Bearer nope' } },
      { headers: { authorization: `Basic ${token}` } },
    ]) {
      const res = await fetch(`${server.url}/object_info`, init);
      expect(res.status).toBe(401);
      expect((await json(res)).error.type).toBe('unauthorized');
    }
    expect((await fetch(`${server.url}/prompt?token=wrong`)).status).toBe(401);
  });

  it('accepts the token as a Bearer header, a token query parameter, or the cookie set by /?token=', async () => {
    expect(
      (await fetch(`${server.url}/prompt`, { headers: { authorization: `Bearer ${token}` } })).status,
    ).toBe(200);
    expect((await fetch(`${server.url}/prompt?token=${token}`)).status).toBe(200);
    const home = await fetch(`${server.url}/?token=${token}`);
    const cookie = home.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/cones_token=.*HttpOnly/);
    expect((await fetch(`${server.url}/prompt`, { headers: { cookie: cookie.split(';')[0] } })).status).toBe(
      200,
    );
  });

  it('requires the token on WebSocket handshakes', async () => {
    const ws = server.url.replace('http', 'ws');
    expect(await handshake(`${ws}/ws`)).toBe(401);
    expect(await handshake(`${ws}/native`, { headers: { authorization: 'Bearer wrong' } })).toBe(401);
    expect(await handshake(`${ws}/ws?clientId=a&token=${token}`)).toBe('open');
    expect(await handshake(`${ws}/native`, { headers: { authorization: `Bearer ${token}` } })).toBe('open');
  });
});

describe('--enable-cors-header', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ corsOrigin: 'http://app.example' });
  });
  afterAll(() => server?.dispose());

  it("lets cross-origin browsers in with ComfyUI's CORS headers and answers preflights", async () => {
    const res = await fetch(`${server.url}/prompt`, { headers: { origin: 'http://app.example' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe('http://app.example');
    expect(res.headers.get('access-control-allow-credentials')).toBe('true');
    const preflight = await fetch(`${server.url}/prompt`, {
      method: 'OPTIONS',
      headers: { origin: 'http://app.example' },
    });
    expect(preflight.status).toBe(200);
    expect(preflight.headers.get('access-control-allow-methods')).toContain('PATCH');
    expect(await handshake(`${server.url.replace('http', 'ws')}/ws`, { origin: 'http://app.example' })).toBe(
      'open',
    );
  });
});

describe('bind address', () => {
  it('refuses to listen beyond loopback without a token', async () => {
    await expect(
      startServer({ host: '0.0.0.0', port: 0, dataDir: join(process.cwd(), 'never-created') }),
    ).rejects.toThrow(/--auth-token/);
  });
});
