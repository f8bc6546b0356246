/**
 * `npm run demo:grid` on the tiny RANDOM model, a 2 × 2 grid at 2 steps, as a user runs it (a child
 * process): the PNG has one captioned row per prompt and one tile per seed, different seeds draw different
 * tiles, the caption file names the command, settings and prompts; a missing checkpoint gets a clear error.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeTinyModel } from '../../src/sd/tiny-model.js';
import { assetPath } from '../../src/shared/assets.js';

const root = assetPath('..');
const dir = mkdtempSync(join(tmpdir(), 'demo-grid-'));
const checkpoint = join(dir, 'tiny.safetensors');
const script = join(root, 'bench', 'toy-demo-grid.ts');

function grid(...args: string[]) {
  return promisify(execFile)(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: root,
    timeout: 60_000,
    env: { ...process.env, CONES_EXECUTION_PROVIDER: 'cpu' },
  });
}

beforeAll(() => writeTinyModel(checkpoint, { seed: 0 }));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('npm run demo:grid', () => {
  it('draws prompts × seeds through the pipeline, with a caption file', async () => {
    const out = join(dir, 'grid.png');
    const args = [checkpoint, '--prompts', '2', '--seeds', '2', '--steps', '2', '--scale', '1', '--out', out];
    const { stdout } = await grid(...args);
    expect(stdout).toContain(`made by \`npm run demo:grid -- ${args.join(' ')}\``);

    // 2 px gaps, 12 px caption strips, 64 px tiles at scale 1.
    const { data, info } = await sharp(out).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.channels]).toEqual([2 + 2 * 66, 2 + 2 * (12 + 64 + 2), 3]);
    const tile = (row: number, column: number) => {
      const left = 2 + column * 66;
      const top = 2 + row * 78 + 12;
      const rows: Buffer[] = [];
      for (let y = top; y < top + 64; y++)
        rows.push(data.subarray((y * info.width + left) * 3, (y * info.width + left + 64) * 3));
      return Buffer.concat(rows);
    };
    expect(tile(0, 0).equals(tile(0, 1))).toBe(false);
    expect(tile(0, 0).equals(tile(1, 0))).toBe(false);
    // A drawn tile is not the grid's fill colour.
    expect(new Set(tile(1, 1)).size).toBeGreaterThan(8);

    const caption = readFileSync(join(dir, 'grid.txt'), 'utf8');
    expect(caption).toContain('sampling: 2 steps, dpmpp_2m, normal, CFG 5');
    expect(caption).toContain('columns: seeds 0, 1');
    expect(caption).toContain('row 1: a photo of a large red circle on a blue background');
    expect(caption).toContain('row 2: a photo of a small yellow square on a black background');
  }, 60_000);

  it('refuses a missing checkpoint, saying where it looked', async () => {
    await expect(grid(join(dir, 'missing.safetensors'))).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringContaining('no checkpoint at'),
    });
  }, 30_000);
});
