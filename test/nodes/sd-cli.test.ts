import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { assetPath } from '../../src/shared/assets.js';

const root = assetPath('..');
const dataDir = mkdtempSync(join(tmpdir(), 'sd-cli-'));

async function runCli(workflow: string): Promise<string> {
  const cli = join(root, 'src', 'cli.ts');
  const file = join(root, 'examples', 'workflows', workflow);
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', cli, 'run', file, '--data-dir', dataDir, '--quiet'],
    { cwd: root, timeout: 120_000 },
  );
  const png = stdout
    .trim()
    .split('\n')
    .find((line) => line.endsWith('.png'));
  expect(png).toBeDefined();
  return png!;
}

describe('cones-nodes run', () => {
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('runs examples/workflows/txt2img.api.json in a fresh data folder (demo checkpoint created on the way)', async () => {
    const file = await runCli('txt2img.api.json');
    expect(existsSync(join(dataDir, 'models', 'checkpoints', 'tiny-sd1-demo.safetensors'))).toBe(true);
    const meta = await sharp(readFileSync(file)).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 64, 64]);
  });

  it('the UI-format twin txt2img.json gives the same pixels as the API-format file', async () => {
    const api = await sharp(readFileSync(await runCli('txt2img.api.json')))
      .raw()
      .toBuffer();
    const ui = await sharp(readFileSync(await runCli('txt2img.json')))
      .raw()
      .toBuffer();
    expect(ui.length).toBe(64 * 64 * 3);
    expect(ui.equals(api)).toBe(true);
  });
});
