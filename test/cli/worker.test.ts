import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort } from '../helpers/redis-server.js';

const cli = ['--import', 'tsx', join(process.cwd(), 'src/cli.ts')];

function run(args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c) => {
      out += c;
    });
    child.stderr.on('data', (c) => {
      out += c;
    });
    child.on('exit', (code) => resolve({ code: code ?? -1, out }));
  });
}

describe('cones-nodes worker', () => {
  it('prints its options, the worker settings among them, with --help', async () => {
    const { code, out } = await run(['worker', '--help']);
    expect(code).toBe(0);
    for (const flag of [
      '--queue URL',
      '--models-dir DIR',
      '--state-dir DIR',
      '--device NAME',
      '--provider NAME',
      '--lock-ms N',
    ])
      expect(out).toContain(flag);
  });

  it('refuses to start without --queue or with a URL that is not redis://', async () => {
    const missing = await run(['worker']);
    expect(missing.code).toBe(2);
    expect(missing.out).toContain('--queue redis://HOST:PORT is required');
    const wrong = await run(['worker', '--queue', 'http://127.0.0.1:1']);
    expect(wrong.code).toBe(2);
    expect(wrong.out).toContain("--queue must be a redis:// URL, got 'http://127.0.0.1:1'");
  });

  it('says which Redis it cannot reach and exits 1 (worker and serve --queue)', async () => {
    const url = `redis://127.0.0.1:${await freePort()}`;
    const dataDir = await mkdtemp(join(tmpdir(), 'cones-worker-cli-'));
    const worker = await run(['worker', '--queue', url, '--data-dir', dataDir]);
    expect(worker.code).toBe(1);
    expect(worker.out).toContain(`cones-nodes worker: cannot reach ${url}`);
    const serve = await run(['serve', '--queue', url, '--port', '0', '--data-dir', dataDir]);
    await rm(dataDir, { recursive: true, force: true });
    expect(serve.code).toBe(1);
    expect(serve.out).toContain(`cannot reach the task queue at ${url}`);
    expect(serve.out).toMatch(/ECONNREFUSED/);
  }, 60_000);

  it('serve lists --queue in --help', async () => {
    const { code, out } = await run(['serve', '--help']);
    expect(code).toBe(0);
    expect(out).toContain('--queue URL');
  });
});
