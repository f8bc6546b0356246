import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gradientPng, json, scalePrompt, startTestServer, type TestServer } from './helpers.js';

/** Symbolic links inside input/, output/, temp/ and user/ must not lead the server to files outside them. */

function uploadForm(name: string, bytes: Buffer, fields: Record<string, string> = {}): FormData {
  const form = new FormData();
  form.append('image', new Blob([bytes], { type: 'image/png' }), name);
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  return form;
}

async function expectRefused(res: Response): Promise<void> {
  expect(res.status).toBe(403);
  expect((await json(res)).error.type).toBe('link_escape');
}

/** Polls /history until the prompt has finished (no timing assertion: the test timeout bounds it). */
async function finishedEntry(url: string, promptId: string): Promise<any> {
  for (;;) {
    const history = await json(fetch(`${url}/history/${promptId}`));
    if (history[promptId]?.status?.completed !== undefined) return history[promptId];
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('symbolic links leading out of the data folders', () => {
  let server: TestServer;
  let outside: string;
  let png: Buffer;
  const outsideNames = () => readdirSync(outside).sort();

  beforeAll(async () => {
    server = await startTestServer();
    outside = await mkdtemp(join(tmpdir(), 'cones-outside-'));
    png = await gradientPng(4, 4);
    writeFileSync(join(outside, 'secret.png'), png);
    writeFileSync(join(outside, 'secret.json'), '{"secret":true}');
    const { input, output, user } = server.dirs;
    symlinkSync(outside, join(output, 'out'));
    symlinkSync(join(outside, 'secret.png'), join(output, 'leak.png'));
    symlinkSync(outside, join(input, 'linked'));
    symlinkSync(join(outside, 'secret.png'), join(input, 'leak.png'));
    symlinkSync(join(outside, 'created.png'), join(input, 'dangling.png'));
    writeFileSync(join(input, 'real.png'), png);
    symlinkSync(join(input, 'real.png'), join(input, 'alias.png'));
    mkdirSync(join(user, 'default'), { recursive: true });
    symlinkSync(outside, join(user, 'default', 'linked'));
  });
  afterAll(async () => {
    await server?.dispose();
    await rm(outside, { recursive: true, force: true });
  });

  it('/view refuses a linked subfolder and a linked file with 403 link_escape', async () => {
    await expectRefused(await fetch(`${server.url}/view?filename=secret.png&subfolder=out&type=output`));
    await expectRefused(await fetch(`${server.url}/view?filename=leak.png&type=output`));
    await expectRefused(await fetch(`${server.url}/view?filename=leak.png&type=output&preview=webp;50`));
    await expectRefused(await fetch(`${server.url}/view?filename=secret.png&subfolder=linked&type=input`));
  });

  it('/view still serves a link that stays inside its folder', async () => {
    const res = await fetch(`${server.url}/view?filename=alias.png&type=input`);
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer())).toEqual(png);
  });

  it('/upload/image refuses a linked subfolder and a linked or dangling name, writing nothing outside', async () => {
    const before = outsideNames();
    for (const fields of [{ subfolder: 'linked' }, { subfolder: 'linked/deeper' }]) {
      await expectRefused(
        await fetch(`${server.url}/upload/image`, {
          method: 'POST',
          body: uploadForm('new.png', png, fields),
        }),
      );
    }
    for (const overwrite of ['true', 'false']) {
      for (const name of ['leak.png', 'dangling.png']) {
        await expectRefused(
          await fetch(`${server.url}/upload/image`, {
            method: 'POST',
            body: uploadForm(name, Buffer.from('replaced'), { overwrite }),
          }),
        );
      }
    }
    expect(outsideNames()).toEqual(before);
    expect(readFileSync(join(outside, 'secret.png'))).toEqual(png);
  });

  it('/upload/mask refuses an original_ref that leads outside, and a linked target subfolder', async () => {
    const before = outsideNames();
    const leakRef = JSON.stringify({ filename: 'leak.png', subfolder: '', type: 'output' });
    await expectRefused(
      await fetch(`${server.url}/upload/mask`, {
        method: 'POST',
        body: uploadForm('mask.png', png, { original_ref: leakRef }),
      }),
    );
    const realRef = JSON.stringify({ filename: 'real.png', subfolder: '', type: 'input' });
    await expectRefused(
      await fetch(`${server.url}/upload/mask`, {
        method: 'POST',
        body: uploadForm('mask.png', png, { original_ref: realRef, subfolder: 'linked' }),
      }),
    );
    expect(outsideNames()).toEqual(before);
    expect(existsSync(join(server.dirs.input, 'mask.png'))).toBe(false);
  });

  it('/userdata and /v2/userdata refuse reads, writes, deletes and moves through a link', async () => {
    const before = outsideNames();
    const url = server.url;
    await expectRefused(await fetch(`${url}/userdata/linked%2Fx.json`, { method: 'POST', body: '{}' }));
    await expectRefused(await fetch(`${url}/userdata/linked%2Fsecret.json`));
    await expectRefused(await fetch(`${url}/userdata/linked%2Fsecret.json`, { method: 'DELETE' }));
    await expectRefused(await fetch(`${url}/userdata?dir=linked`));
    await expectRefused(await fetch(`${url}/v2/userdata?path=linked`));
    await expectRefused(
      await fetch(`${url}/userdata/linked%2Fsecret.json/move/stolen.json`, { method: 'POST' }),
    );
    expect((await fetch(`${url}/userdata/mine.json`, { method: 'POST', body: '{}' })).status).toBe(200);
    await expectRefused(await fetch(`${url}/userdata/mine.json/move/linked%2Fmine.json`, { method: 'POST' }));
    expect(outsideNames()).toEqual(before);
    expect(readFileSync(join(outside, 'secret.json'), 'utf8')).toBe('{"secret":true}');
  });

  it('settings stored as a link leading outside are neither read nor written', async () => {
    const settings = join(server.dirs.user, 'default', 'comfy.settings.json');
    writeFileSync(join(outside, 'settings.json'), '{"stolen":1}');
    symlinkSync(join(outside, 'settings.json'), settings);
    try {
      expect(await json(fetch(`${server.url}/settings`))).toEqual({});
      await expectRefused(
        await fetch(`${server.url}/settings`, { method: 'POST', body: '{"Comfy.Theme":"dark"}' }),
      );
      expect(readFileSync(join(outside, 'settings.json'), 'utf8')).toBe('{"stolen":1}');
    } finally {
      rmSync(settings);
      rmSync(join(outside, 'settings.json'));
    }
  });

  it('LoadImage refuses a linked file that leads outside input/, and its listing skips it', async () => {
    const res = await fetch(`${server.url}/prompt`, {
      method: 'POST',
      body: JSON.stringify({ prompt: scalePrompt('leak.png') }),
    });
    expect(res.status).toBe(400);
    const body = await json(res);
    expect(body.node_errors['1'].errors[0].details).toMatch(
      /Invalid image file: leak\.png.*link leading out/,
    );
    const listed: string[] = (await json(fetch(`${server.url}/object_info/LoadImage`))).LoadImage.input
      .required.image[0];
    expect(listed).toContain('alias.png');
    expect(listed).toContain('real.png');
    expect(listed).not.toContain('leak.png');
    expect(listed).not.toContain('dangling.png');
  });

  it('SaveImage refuses a filename_prefix whose subfolder is a link leading outside output/', async () => {
    const before = outsideNames();
    const queued = await json(
      fetch(`${server.url}/prompt`, {
        method: 'POST',
        body: JSON.stringify({ prompt: scalePrompt('real.png', 8, 8, 'out/stolen') }),
      }),
    );
    const entry = await finishedEntry(server.url, queued.prompt_id);
    expect(entry.status.status_str).toBe('error');
    const error = entry.status.messages.find(([type]: [string]) => type === 'execution_error')[1];
    expect(error.exception_message).toMatch(/symbolic link/);
    expect(outsideNames()).toEqual(before);
  });
});

describe('a data folder that is itself a symbolic link', () => {
  let server: TestServer;
  let real: string;
  let link: string;

  beforeAll(async () => {
    real = await mkdtemp(join(tmpdir(), 'cones-real-data-'));
    link = `${real}-link`;
    symlinkSync(real, link);
    server = await startTestServer({ dataDir: link });
  });
  afterAll(async () => {
    await server?.dispose();
    rmSync(link);
    await rm(real, { recursive: true, force: true });
  });

  it('uploads, views, stores user data, lists and runs LoadImage → SaveImage as usual', async () => {
    const png = await gradientPng(4, 4);
    const up = await fetch(`${server.url}/upload/image`, {
      method: 'POST',
      body: uploadForm('here.png', png, { subfolder: 'sub' }),
    });
    expect(up.status).toBe(200);
    expect(existsSync(join(real, 'input', 'sub', 'here.png'))).toBe(true);
    const view = await fetch(`${server.url}/view?filename=here.png&subfolder=sub&type=input`);
    expect(view.status).toBe(200);
    expect(Buffer.from(await view.arrayBuffer())).toEqual(png);

    expect((await fetch(`${server.url}/userdata/w.json`, { method: 'POST', body: '{"a":1}' })).status).toBe(
      200,
    );
    expect(await json(fetch(`${server.url}/userdata/w.json`))).toEqual({ a: 1 });
    expect((await fetch(`${server.url}/settings`, { method: 'POST', body: '{"x":2}' })).status).toBe(200);
    expect(await json(fetch(`${server.url}/settings`))).toEqual({ x: 2 });

    const listed = (await json(fetch(`${server.url}/object_info/LoadImage`))).LoadImage.input.required
      .image[0];
    expect(listed).toContain('sub/here.png');
    const queued = await json(
      fetch(`${server.url}/prompt`, {
        method: 'POST',
        body: JSON.stringify({ prompt: scalePrompt('sub/here.png', 8, 8, 'nested/made') }),
      }),
    );
    const entry = await finishedEntry(server.url, queued.prompt_id);
    expect(entry.status.status_str).toBe('success');
    expect(existsSync(join(real, 'output', 'nested', 'made_00001_.png'))).toBe(true);
    const made = await fetch(`${server.url}/view?filename=made_00001_.png&subfolder=nested&type=output`);
    expect(made.status).toBe(200);
    expect((await made.arrayBuffer()).byteLength).toBeGreaterThan(0);
  });
});

describe("the user's own folder (user/default) as a symbolic link leading out of user/", () => {
  let server: TestServer;
  let outside: string;
  let dataDir: string;

  beforeAll(async () => {
    outside = await mkdtemp(join(tmpdir(), 'cones-outside-user-'));
    writeFileSync(join(outside, 'secret.json'), '{"secret":true}');
    writeFileSync(join(outside, 'comfy.settings.json'), '{"leaked":true}');
    dataDir = await mkdtemp(join(tmpdir(), 'cones-user-link-'));
    mkdirSync(join(dataDir, 'user'), { recursive: true });
    symlinkSync(outside, join(dataDir, 'user', 'default'));
    server = await startTestServer({ dataDir });
  });
  afterAll(async () => {
    await server?.dispose();
    await rm(dataDir, { recursive: true, force: true });
    await rm(outside, { recursive: true, force: true });
  });

  it('/userdata, /v2/userdata and /settings neither read, list nor write there', async () => {
    const url = server.url;
    await expectRefused(await fetch(`${url}/userdata/secret.json`));
    await expectRefused(await fetch(`${url}/userdata/new.json`, { method: 'POST', body: '{}' }));
    await expectRefused(await fetch(`${url}/userdata/secret.json`, { method: 'DELETE' }));
    await expectRefused(await fetch(`${url}/v2/userdata`));
    expect(await json(fetch(`${url}/settings`))).toEqual({});
    expect(readdirSync(outside).sort()).toEqual(['comfy.settings.json', 'secret.json']);
    expect(readFileSync(join(outside, 'secret.json'), 'utf8')).toBe('{"secret":true}');
  });
});
