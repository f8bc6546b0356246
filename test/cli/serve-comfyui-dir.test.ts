/**
 * Issue #2 item 8: `cones-nodes serve --comfyui-dir PATH` reuses an existing ComfyUI install's
 * folders — its checkpoints are listed, its input images offered to LoadImage, uploads land in its
 * input folder — through the real command line; the demo checkpoint stays out of the install.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { startCli } from '../helpers/cli-process.js';

describe('cones-nodes serve --comfyui-dir', () => {
  it("serves an existing ComfyUI install's checkpoints and input images, uploads into its input folder, keeps the demo model out of it", async () => {
    const root = await mkdtemp(join(tmpdir(), 'cones-comfyui-dir-'));
    const comfy = join(root, 'ComfyUI');
    const dataDir = join(root, 'data');
    await mkdir(join(comfy, 'models', 'checkpoints'), { recursive: true });
    await mkdir(join(comfy, 'input'), { recursive: true });
    await writeFile(join(comfy, 'models', 'checkpoints', 'users-own-sd15.safetensors'), '');
    const png = await sharp({ create: { width: 4, height: 4, channels: 3, background: '#804020' } })
      .png()
      .toBuffer();
    await writeFile(join(comfy, 'input', 'already-there.png'), png);

    const { child, exit, output } = startCli([
      'serve',
      '--port',
      '0',
      '--data-dir',
      dataDir,
      '--comfyui-dir',
      comfy,
    ]);
    try {
      const deadline = Date.now() + 30_000;
      let url: string | undefined;
      while (!url && Date.now() < deadline) {
        url = /listening on (http:\/\/\S+)/.exec(output())?.[1];
        if (!url) await new Promise((r) => setTimeout(r, 100));
      }
      expect(url, output()).toBeDefined();

      const checkpoints = (await (await fetch(`${url}/models/checkpoints`)).json()) as string[];
      expect(checkpoints).toContain('users-own-sd15.safetensors');
      // the random-weights demo goes into the service's own folder, never into the ComfyUI install
      expect(checkpoints).toContain('tiny-sd1-demo.safetensors');
      expect(existsSync(join(dataDir, 'models', 'checkpoints', 'tiny-sd1-demo.safetensors'))).toBe(true);
      expect(await readdir(join(comfy, 'models', 'checkpoints'))).toEqual(['users-own-sd15.safetensors']);
      const loadImage = (await (await fetch(`${url}/object_info/LoadImage`)).json()) as any;
      expect(loadImage.LoadImage.input.required.image[0]).toContain('already-there.png');

      const form = new FormData();
      form.append('image', new Blob([png], { type: 'image/png' }), 'uploaded.png');
      const res = await fetch(`${url}/upload/image`, { method: 'POST', body: form });
      expect(res.status).toBe(200);
      expect(await readdir(join(comfy, 'input'))).toContain('uploaded.png');
      expect(existsSync(join(dataDir, 'input', 'uploaded.png'))).toBe(false);

      child.kill('SIGTERM');
      expect(await exit).toBe(0);
    } finally {
      child.kill('SIGKILL');
      await rm(root, { recursive: true, force: true });
    }
  });
});
