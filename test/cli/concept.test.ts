import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { run } from '../../src/cli/concept.js';
import { decodeConcept, encodeConcept } from '../../src/cones/file.js';
import { conceptInfo, formatConceptInfo } from '../../src/cones/info.js';
import { randomConcept } from '../cones/helpers.js';

async function capture(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...a) => void out.push(a.join(' ')));
  const error = vi.spyOn(console, 'error').mockImplementation((...a) => void err.push(a.join(' ')));
  try {
    const code = await run(argv);
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
}

describe('cones-nodes concept', () => {
  let dir: string;
  let file: string;
  const bytes = encodeConcept(randomConcept({ seed: 8, density: 0.01 })).bytes;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'cones-cli-'));
    file = join(dir, 'sks.cones.safetensors');
    writeFileSync(file, bytes);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('info prints what the Concept Info node shows', async () => {
    const r = await capture(['info', file]);
    expect(r.code).toBe(0);
    expect(r.out).toBe(formatConceptInfo(conceptInfo(decodeConcept(bytes, file))));
  });

  it('info --json prints the same facts as JSON, and --chart writes the PNG', async () => {
    const chart = join(dir, 'chart.png');
    const r = await capture(['info', file, '--json', '--chart', chart]);
    expect(r.code).toBe(0);
    const json = JSON.parse(r.out);
    const info = conceptInfo(decodeConcept(bytes));
    expect(json.totalCount).toBe(info.totalCount);
    expect(json.fileBytes).toBe(bytes.length);
    expect(json.layers).toHaveLength(32);
    expect((await sharp(chart).metadata()).width).toBe(1024);
  });

  it('info fails with the file error for a corrupted file', async () => {
    const bad = join(dir, 'bad.cones.safetensors');
    const corrupted = bytes.slice();
    corrupted[corrupted.length - 1] ^= 0xff;
    writeFileSync(bad, corrupted);
    const r = await capture(['info', bad]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/checksum mismatch/);
  });

  it('embed then extract gives back the identical file', async () => {
    const workflow = join(dir, 'wf.json');
    writeFileSync(workflow, JSON.stringify({ nodes: [], links: [], version: 0.4 }));
    expect((await capture(['embed', workflow, file])).code).toBe(0);
    expect(
      JSON.parse(readFileSync(workflow, 'utf8')).extra.cones_concepts['sks.cones.safetensors'].sha256,
    ).toMatch(/^[0-9a-f]{64}$/);
    const out = mkdtempSync(join(dir, 'out-'));
    const r = await capture(['extract', workflow, '-o', out]);
    expect(r.code).toBe(0);
    expect(new Uint8Array(readFileSync(join(out, 'sks.cones.safetensors')))).toEqual(bytes);
  });

  it('extract creates the output folder and keeps the concept subfolder from its name', async () => {
    const workflow = join(dir, 'wf-sub.json');
    writeFileSync(workflow, JSON.stringify({ nodes: [], links: [], version: 0.4 }));
    expect((await capture(['embed', workflow, file, '--name', 'pets/sks.cones.safetensors'])).code).toBe(0);
    const out = join(dir, 'not-yet', 'there');
    const r = await capture(['extract', workflow, '-o', out]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(new Uint8Array(readFileSync(join(out, 'pets', 'sks.cones.safetensors')))).toEqual(bytes);
  });

  it('extract refuses an embedded name that would leave the output folder and writes nothing', async () => {
    const workflow = join(dir, 'wf-escape.json');
    writeFileSync(workflow, JSON.stringify({ nodes: [], links: [], version: 0.4 }));
    expect((await capture(['embed', workflow, file, '--name', '../escaped.cones.safetensors'])).code).toBe(0);
    const out = join(dir, 'escape-out');
    const r = await capture(['extract', workflow, '-o', out]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/not a relative file name/);
    expect(existsSync(join(dir, 'escaped.cones.safetensors'))).toBe(false);
  });

  it('is registered in the cones-nodes command line', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'src/cli.ts', 'concept', 'info', file, '--json'],
      {
        cwd: join(import.meta.dirname, '..', '..'),
      },
    );
    expect(JSON.parse(stdout).label).toBe('sks dog');
  });
});
