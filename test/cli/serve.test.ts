import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { killStartedCli, startCli } from '../helpers/cli-process.js';

/** Every process started here, killed after the tests (also one a failing test left running). */
afterAll(killStartedCli);

/** `cones-nodes serve <args>`. */
const start = (args: string[], env: Record<string, string> = {}) => startCli(['serve', ...args], env);

/** Waits until the output matches `pattern`; returns the first group. */
async function waitFor(run: ReturnType<typeof start>, pattern: RegExp): Promise<string> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const found = pattern.exec(run.output())?.[1];
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no ${pattern} in:\n${run.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('cones-nodes serve', () => {
  it('prints its options with --help', async () => {
    const run = start(['--help']);
    expect(await run.exit).toBe(0);
    expect(run.output()).toContain('--auth-token');
    expect(run.output()).toContain('--front-end');
  });

  it('lists the worker settings flags with their environment fallbacks in --help', async () => {
    const run = start(['--help']);
    expect(await run.exit).toBe(0);
    for (const [flag, env] of [
      ['--provider NAME', 'CONES_EXECUTION_PROVIDER'],
      ['--dtype TYPE', 'CONES_SD_DTYPE'],
      ['--model-memory-mb N', 'CONES_MODEL_MEMORY_MB'],
      ['--threads N', 'CONES_ORT_THREADS'],
      ['--max-shapes N', 'CONES_SD_MAX_SHAPES'],
      ['--attention-map-mb N', 'CONES_ATTENTION_MAP_MB'],
      ['--graph-cache-dir DIR', 'CONES_GRAPH_CACHE_DIR'],
    ]) {
      expect(run.output()).toContain(flag);
      expect(run.output()).toContain(`[${env}]`);
    }
  });

  it('refuses an unusable worker setting with exit code 2, naming the flag or variable', async () => {
    const never = join(tmpdir(), 'cones-never');
    const cases: [string[], Record<string, string>, string][] = [
      [['--provider', 'gpu'], {}, "--provider must be auto, cpu, cuda; got 'gpu'"],
      [['--threads', '1.5'], {}, "--threads must be a positive integer; got '1.5'"],
      [[], { CONES_MODEL_MEMORY_MB: 'lots' }, "CONES_MODEL_MEMORY_MB must be a positive number; got 'lots'"],
    ];
    for (const [args, env, message] of cases) {
      const run = start(['--port', '0', '--data-dir', never, ...args], env);
      expect(await run.exit).toBe(2);
      expect(run.output()).toContain(message);
    }
  });

  it('refuses a non-loopback host without a token', async () => {
    const run = start(['--host', '0.0.0.0', '--port', '0', '--data-dir', join(tmpdir(), 'cones-never')]);
    expect(await run.exit).toBe(1);
    expect(run.output()).toMatch(/--auth-token/);
  });

  it('refuses a blank or short auth token with exit code 2, naming the minimum length', async () => {
    const never = join(tmpdir(), 'cones-never');
    const cases = [
      [['--host', '0.0.0.0', '--auth-token', '   '], {}, '--auth-token'],
      [['--auth-token', 'short-secret'], {}, '--auth-token'],
      [[], { CONES_AUTH_TOKEN: '' }, 'CONES_AUTH_TOKEN'],
    ] as const;
    const runs = cases.map(([args, env]) => start([...args, '--port', '0', '--data-dir', never], env));
    for (const [i, run] of runs.entries()) {
      expect(await run.exit, run.output()).toBe(2);
      expect(run.output()).toContain(`${cases[i][2]}: the auth token is`);
      expect(run.output()).toContain('at least 16');
      expect(run.output()).not.toContain('listening');
    }
  });

  it('on 0.0.0.0 says it listens on all interfaces, and keeps the token out of /system_stats and --log output', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'cones-serve-token-'));
    const token = 'cli-test-token-0123456789';
    const other = 'someone-elses-token-abcdef';
    const run = start([
      '--host',
      '0.0.0.0',
      '--port',
      '0',
      '--data-dir',
      dataDir,
      '--auth-token',
      token,
      '--log',
    ]);
    try {
      const url = await waitFor(run, /this machine: (http:\/\/\S+)/);
      expect(run.output()).toMatch(/listening on all interfaces \(0\.0\.0\.0 port \d+\)/);
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const stats = await fetch(`${url}/api/system_stats`, { headers: { authorization: `Bearer ${token}` } });
      expect(stats.status).toBe(200);
      const body = await stats.text();
      expect(body).toContain('--auth-token');
      expect(body).not.toContain(token);
      // The token in every place a request can carry it, and a wrong one (maybe real elsewhere).
      for (const [path, headers] of [
        [`/prompt?token=${token}`, {}],
        [`/prompt?x=1&tok%65n=${token}`, {}],
        ['/prompt', { cookie: `cones_token=${token}` }],
        [`/internal/logs?token=${token}`, {}],
        [`/no-such-route?token=${token}`, {}],
        [`/prompt?token=${other}`, { authorization: `Bearer ${other}` }],
      ] as const) {
        const res = await fetch(`${url}${path}`, { headers });
        expect(await res.text()).not.toContain(token);
      }
      run.child.kill('SIGTERM');
      expect(await run.exit).toBe(0);
      expect(run.output()).toContain('"url":"/prompt?token=[redacted]"');
      expect(run.output()).not.toContain(token);
      expect(run.output()).not.toContain(other);
    } finally {
      run.child.kill('SIGKILL');
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('keeps an --auth-token=TOKEN value out of /system_stats', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'cones-serve-token-'));
    const token = 'cli-test-token-in-one-argument';
    const run = start(['--port', '0', '--data-dir', dataDir, `--auth-token=${token}`]);
    try {
      const url = await waitFor(run, /listening on (http:\/\/\S+)/);
      const body = await (
        await fetch(`${url}/system_stats`, { headers: { authorization: `Bearer ${token}` } })
      ).text();
      expect(body).toContain('--auth-token=[redacted]');
      expect(body).not.toContain(token);
    } finally {
      run.child.kill('SIGKILL');
      await rm(dataDir, { recursive: true, force: true });
    }
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
