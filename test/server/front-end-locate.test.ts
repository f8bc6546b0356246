/**
 * Issue #8 item 5: with `--comfyui-dir`, `/` serves the front end that install already has — found in
 * its Python environments' site-packages (venv, .venv, the Windows portable build's python_embeded) or
 * its own web/ folder — and `--front-end DIR` always wins.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { locateFrontEnd } from '../../src/server/front-end-locate.js';
import {
  comfyPortable,
  comfyWithoutFrontEnd,
  comfyWithVenv,
  comfyWithWebFolder,
  installFrontEndPackage,
} from './fake-comfyui.js';
import { startTestServer } from './helpers.js';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'cones-front-end-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('locateFrontEnd', () => {
  it("finds comfyui-frontend-package in the install's venv (lib/python3.X/site-packages) with its version", async () => {
    const { install, staticDir } = await comfyWithVenv(root, '1.44.19');
    const found = locateFrontEnd({ comfyuiDir: install });
    expect(found).toMatchObject({ dir: staticDir, source: 'package', version: '1.44.19' });
    expect(found.dir !== undefined && found.from).toBe(
      `comfyui-frontend-package 1.44.19 in ${join(install, 'venv')}`,
    );
  });

  it('finds it in the Windows portable build (python_embeded/Lib/site-packages next to ComfyUI/)', async () => {
    const { install, staticDir } = await comfyPortable(root, '1.28.8');
    expect(locateFrontEnd({ comfyuiDir: install })).toMatchObject({
      dir: staticDir,
      source: 'package',
      version: '1.28.8',
    });
  });

  it('takes the newest Python of a venv first (python3.12 before python3.9)', async () => {
    const { install } = await comfyWithoutFrontEnd(root);
    const lib = join(install, '.venv', 'lib');
    await installFrontEndPackage(join(lib, 'python3.9', 'site-packages'), '1.10.0', 'old');
    const newer = await installFrontEndPackage(join(lib, 'python3.12', 'site-packages'), '1.30.0', 'new');
    expect(locateFrontEnd({ comfyuiDir: install })).toMatchObject({ dir: newer, version: '1.30.0' });
  });

  it("falls back to an older install's own web/ folder", async () => {
    const { install, webDir } = await comfyWithWebFolder(root);
    expect(locateFrontEnd({ comfyuiDir: install })).toMatchObject({ dir: webDir, source: 'web-folder' });
  });

  it('says where it looked when the install has no front end', async () => {
    const { install } = await comfyWithoutFrontEnd(root);
    const none = locateFrontEnd({ comfyuiDir: install });
    expect(none.dir === undefined && none.reason).toContain(join(install, '.venv'));
    expect(locateFrontEnd({ comfyuiDir: join(root, 'nothing-here') }).dir).toBeUndefined();
    expect(locateFrontEnd({}).dir).toBeUndefined();
  });

  it('lets --front-end win over the install, and reads the version when it is the wheel’s static/ folder', async () => {
    const { install } = await comfyWithVenv(root);
    const other = await installFrontEndPackage(join(root, 'elsewhere'), '1.49.0', 'explicit');
    expect(locateFrontEnd({ comfyuiDir: install, frontEnd: other })).toMatchObject({
      dir: other,
      source: 'option',
      version: '1.49.0',
    });
  });
});

describe('startServer front end', () => {
  it("serves the install's front end at / and reports it; frontEnd: null keeps the status page", async () => {
    const { install, staticDir } = await comfyWithVenv(root, '1.44.19', 'the venv front end');
    const server = await startTestServer({ comfyuiDir: install });
    try {
      expect(server.frontEnd).toMatchObject({ dir: staticDir, version: '1.44.19' });
      const res = await fetch(`${server.url}/`);
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('<title>the venv front end</title>');
    } finally {
      await server.dispose();
    }
    const plain = await startTestServer({ comfyuiDir: install, frontEnd: null });
    try {
      expect(plain.frontEnd.dir).toBeUndefined();
      expect(await (await fetch(`${plain.url}/`)).text()).toContain('<h1>cones-nodes');
    } finally {
      await plain.dispose();
    }
  });
});
