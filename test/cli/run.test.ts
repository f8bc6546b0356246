import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { run } from '../../src/cli/run.js';
import { readPngText } from '../../src/image/png-text.js';
import { assetPath } from '../../src/shared/assets.js';

const exec = promisify(execFile);
const root = assetPath('..');
const example = (name: string) => join(root, 'examples', 'workflows', name);
const dataDir = mkdtempSync(join(tmpdir(), 'cones-run-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

/** Runs the command in process, capturing what it prints. */
async function runCli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const log = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => {
    out += `${a.join(' ')}\n`;
  });
  const error = vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => {
    err += `${a.join(' ')}\n`;
  });
  const write = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    err += String(chunk);
    return true;
  });
  try {
    const code = await run(args);
    return { code, out, err };
  } finally {
    log.mockRestore();
    error.mockRestore();
    write.mockRestore();
  }
}

describe('cones-nodes run', () => {
  it('runs the API example end to end through the real CLI and prints the output path', async () => {
    const { stdout, stderr } = await exec(
      process.execPath,
      [
        '--import',
        'tsx',
        join(root, 'src', 'cli.ts'),
        'run',
        example('image-resize.api.json'),
        '--data-dir',
        dataDir,
      ],
      { cwd: root },
    );
    const path = stdout.trim();
    expect(path).toBe(join(dataDir, 'output', 'examples', 'image-resize_00001_.png'));
    expect(stderr).toContain('running #2 Upscale Image');
    const meta = await sharp(path).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 128, 96]);
    expect(JSON.parse(readPngText(readFileSync(path)).prompt)['2'].class_type).toBe('ImageScale');
  });

  it('runs the UI-format twin to the same pixels and embeds the workflow', async () => {
    const r = await runCli([example('image-resize.ui.json'), '--data-dir', dataDir]);
    expect(r.code).toBe(0);
    const path = r.out.trim();
    expect(path).toMatch(/image-resize_00002_\.png$/);
    const text = readPngText(readFileSync(path));
    expect(JSON.parse(text.workflow).nodes).toHaveLength(3);
    const a = await sharp(join(dataDir, 'output', 'examples', 'image-resize_00001_.png'))
      .raw()
      .toBuffer();
    const b = await sharp(path).raw().toBuffer();
    expect(b.equals(a)).toBe(true);
  });

  it('runs a PNG carrying a workflow', async () => {
    const png = join(dataDir, 'output', 'examples', 'image-resize_00002_.png');
    const r = await runCli([png, '--data-dir', dataDir, '--quiet']);
    expect(r.code).toBe(0);
    expect(r.out.trim()).toMatch(/image-resize_00003_\.png$/);
    expect(r.err).toBe('');
  });

  it('exits non-zero with a readable message for invalid workflows, bad files and failing nodes', async () => {
    const bad = join(dataDir, 'bad.json');
    writeFileSync(
      bad,
      JSON.stringify({
        '1': { class_type: 'LoadImage', inputs: { image: 'nowhere.png' } },
        '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'x' } },
      }),
    );
    const invalid = await runCli([bad, '--data-dir', dataDir]);
    expect(invalid.code).toBe(1);
    expect(invalid.err).toContain('the workflow is not valid');
    expect(invalid.err).toContain('Invalid image file: nowhere.png');

    writeFileSync(bad, '{ nope');
    const json = await runCli([bad, '--data-dir', dataDir]);
    expect(json.code).toBe(1);
    expect(json.err).toContain('is not valid JSON');

    const missing = await runCli([join(dataDir, 'missing.json'), '--data-dir', dataDir]);
    expect(missing.code).toBe(1);
    expect(missing.err).toContain('no such file');

    // a corrupt image passes validation (the file exists) and fails in the node
    writeFileSync(join(dataDir, 'input', 'corrupt.png'), 'not a png');
    writeFileSync(
      bad,
      JSON.stringify({
        '1': { class_type: 'LoadImage', inputs: { image: 'corrupt.png' } },
        '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'x' } },
      }),
    );
    const failing = await runCli([bad, '--data-dir', dataDir]);
    expect(failing.code).toBe(1);
    expect(failing.err).toMatch(/node 1 \(LoadImage\) failed: /);

    expect((await runCli([])).code).toBe(2);
  });

  it('copies --input files into the input folder', async () => {
    const copy = join(dataDir, 'renamed-sample.png');
    copyFileSync(example('image-resize-sample.png'), copy);
    const wf = join(dataDir, 'wf.json');
    writeFileSync(
      wf,
      JSON.stringify({
        '1': { class_type: 'LoadImage', inputs: { image: 'renamed-sample.png' } },
        '2': { class_type: 'PreviewImage', inputs: { images: ['1', 0] } },
      }),
    );
    const r = await runCli([wf, '--data-dir', dataDir, '--input', copy]);
    expect(r.code).toBe(0);
    expect(r.out.trim()).toMatch(/temp\/ComfyUI_temp_[a-z]{5}_00001_\.png$/);
  });
});
