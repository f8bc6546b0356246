/**
 * `--demo-model shipped|random` on `serve` and `worker` (with CONES_DEMO_MODEL as fallback): which
 * demo checkpoint a fresh data folder gets (src/sd/demo-checkpoint.ts), through the real command line.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isGeneratedRandomDemo } from '../../src/sd/demo-checkpoint.js';
import { killStartedCli, startCli as start } from '../helpers/cli-process.js';

const dirs: string[] = [];
afterAll(async () => {
  killStartedCli();
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe('--demo-model', () => {
  it('serve and worker refuse an unknown kind with exit code 2, naming the flag or variable', async () => {
    const runs = [
      { run: start(['serve', '--port', '0', '--demo-model', 'trained']), says: '--demo-model' },
      { run: start(['serve', '--port', '0'], { CONES_DEMO_MODEL: 'trained' }), says: 'CONES_DEMO_MODEL' },
      {
        run: start(['worker', '--queue', 'redis://127.0.0.1:1', '--demo-model', 'trained']),
        says: '--demo-model',
      },
    ];
    for (const { run, says } of runs) {
      expect(await run.exit, run.output()).toBe(2);
      expect(run.output()).toContain(`${says} must be shipped or random, got 'trained'`);
    }
    // The worker's usage (printed with the error) documents the flag and its variable.
    expect(runs[2].run.output()).toMatch(/--demo-model KIND +the demo checkpoint/);
    expect(runs[2].run.output()).toContain('CONES_DEMO_MODEL; default shipped');
  });

  it('serve --demo-model random places the random model, the flag overriding CONES_DEMO_MODEL', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'cones-demo-flag-'));
    dirs.push(dataDir);
    const run = start(['serve', '--port', '0', '--data-dir', dataDir, '--demo-model', 'random'], {
      CONES_DEMO_MODEL: 'not-consulted',
    });
    const deadline = Date.now() + 30_000;
    while (!/listening on/.test(run.output()) && Date.now() < deadline && run.child.exitCode === null)
      await new Promise((r) => setTimeout(r, 100));
    expect(run.output()).toMatch(/listening on/);
    run.child.kill('SIGTERM');
    expect(await run.exit).toBe(0);
    expect(
      await isGeneratedRandomDemo(join(dataDir, 'models', 'checkpoints', 'tiny-sd1-demo.safetensors')),
    ).toBe(true);
  });
});
