/**
 * Issue #8 item 5: `cones-nodes serve --comfyui-dir DIR` serves the front end the install already has
 * (here the Windows portable layout: python_embeded/Lib/site-packages next to ComfyUI/) at `/`, and
 * its banner says which one and from where.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startCli } from '../helpers/cli-process.js';
import { comfyPortable } from '../server/fake-comfyui.js';

describe('cones-nodes serve --comfyui-dir (front end)', () => {
  it("serves the install's comfyui-frontend-package at / and names it in the banner", async () => {
    const root = await mkdtemp(join(tmpdir(), 'cones-serve-front-end-'));
    const { install, staticDir } = await comfyPortable(root, '1.28.8', 'portable front end');
    const { child, exit, output } = startCli([
      'serve',
      '--port',
      '0',
      '--data-dir',
      join(root, 'data'),
      '--comfyui-dir',
      install,
    ]);
    try {
      const deadline = Date.now() + 30_000;
      while (!/front end: .*\n/.test(output()) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 100));
      const url = /listening on (http:\/\/\S+)/.exec(output())?.[1];
      expect(url, output()).toBeDefined();
      expect(output()).toContain(
        `front end: ${url}/ serves ${staticDir} (comfyui-frontend-package 1.28.8 in `,
      );

      const home = await fetch(`${url}/`);
      expect(home.status).toBe(200);
      expect(await home.text()).toContain('<title>portable front end</title>');
      const asset = await fetch(`${url}/assets/index.js`);
      expect(await asset.text()).toContain('portable front end');

      child.kill('SIGTERM');
      expect(await exit).toBe(0);
    } finally {
      child.kill('SIGKILL');
      await rm(root, { recursive: true, force: true });
    }
  }, 60_000);
});
