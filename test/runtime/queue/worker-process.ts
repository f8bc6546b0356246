/**
 * `cones-nodes worker --queue URL` as a real child process for the distributed-mode tests (started
 * with the CLI from source, on the CPU provider).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';

export interface QueueWorkerProcess {
  child: ChildProcess;
  output(): string;
  /** Resolves with the exit code (or signal name) once the process ended. */
  exited: Promise<number | string>;
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Starts a worker with its own data folder; resolves once it says it takes tasks. */
export async function spawnQueueWorker(
  url: string,
  dataDir: string,
  args: string[] = [],
): Promise<QueueWorkerProcess> {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const child of running) child.kill('SIGKILL');
    });
  }
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(process.cwd(), 'src/cli.ts'),
      'worker',
      '--queue',
      url,
      '--data-dir',
      dataDir,
      ...args,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CONES_EXECUTION_PROVIDER: 'cpu' } },
  );
  running.add(child);
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve(code ?? signal ?? -1);
    }),
  );
  let out = '';
  child.stdout!.on('data', (c) => {
    out += c;
  });
  child.stderr!.on('data', (c) => {
    out += c;
  });
  const deadline = Date.now() + 60_000;
  while (!out.includes('taking tasks from')) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`worker did not start:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, output: () => out, exited };
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once it exited. */
export async function stopProcess(child: ChildProcess, graceMs = 15_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}
