/**
 * `cones-nodes <args>` as a child process through tsx, its stdout and stderr collected together. Every
 * process started here is remembered so a test file's afterAll can kill what a failing test left running.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';

const cli = ['--import', 'tsx', join(process.cwd(), 'src/cli.ts')];
const started = new Set<ChildProcess>();

export function startCli(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [...cli, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  started.add(child);
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

/** SIGKILL every process startCli started (for afterAll). */
export function killStartedCli(): void {
  for (const child of started) child.kill('SIGKILL');
}
