import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const cli = ['--import', 'tsx', join(process.cwd(), 'src/cli.ts')];

function start(args: string[]) {
  const child = spawn(process.execPath, [...cli, 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c) => {
    out += c;
  });
  child.stderr.on('data', (c) => {
    out += c;
  });
  const exit = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? -1)));
  return { child, exit, output: () => out };
}

describe('cones-nodes serve', () => {
  it('prints its options with --help', async () => {
    const run = start(['--help']);
    expect(await run.exit).toBe(0);
    expect(run.output()).toContain('--auth-token');
    expect(run.output()).toContain('--front-end');
  });

  it('refuses a non-loopback host without a token', async () => {
    const run = start(['--host', '0.0.0.0', '--port', '0', '--data-dir', join(tmpdir(), 'cones-never')]);
    expect(await run.exit).toBe(1);
    expect(run.output()).toMatch(/--auth-token/);
  });

  it('serves on the given port until SIGTERM', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'cones-serve-'));
    const run = start(['--port', '0', '--data-dir', dataDir]);
    try {
      const deadline = Date.now() + 30_000;
      let url: string | undefined;
      while (!url && Date.now() < deadline) {
        url = /listening on (http:\/\/\S+)/.exec(run.output())?.[1];
        if (!url) await new Promise((r) => setTimeout(r, 100));
      }
      expect(url).toBeDefined();
      const res = await fetch(`${url}/api/system_stats`);
      expect(res.status).toBe(200);
      run.child.kill('SIGTERM');
      expect(await run.exit).toBe(0);
    } finally {
      run.child.kill('SIGKILL');
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
