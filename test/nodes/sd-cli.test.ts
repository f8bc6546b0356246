import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { assetPath } from '../../src/assets.js';

const root = assetPath('..');
const dataDir = mkdtempSync(join(tmpdir(), 'sd-cli-'));

describe('cones-nodes run', () => {
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('runs examples/workflows/txt2img.api.json in a fresh data folder (demo checkpoint created on the way)', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [
        '--import',
        'tsx',
        join(root, 'src', 'cli.ts'),
        'run',
        join(root, 'examples', 'workflows', 'txt2img.api.json'),
        '--data-dir',
        dataDir,
        '--quiet',
      ],
      { cwd: root, timeout: 120_000 },
    );
    expect(existsSync(join(dataDir, 'models', 'checkpoints', 'tiny-sd1-demo.safetensors'))).toBe(true);
    const file = stdout
      .trim()
      .split('\n')
      .find((line) => line.endsWith('.png'));
    expect(file).toBeDefined();
    const meta = await sharp(readFileSync(file!)).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 64, 64]);
  });
});
