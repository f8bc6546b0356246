/**
 * Test scaffolding for distributed mode: `cones-nodes worker` processes started with the real CLI,
 * and a prompt run over a real /ws socket with its events recorded.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { RecordingSocket } from '../../server/helpers.js';

const cli = ['--import', 'tsx', join(process.cwd(), 'src/cli.ts')];
const started = new Set<ChildProcess>();
process.once('exit', () => killAllWorkers());

/** Kills every worker a test left running (a failed test must not leave processes behind). */
export function killAllWorkers(): void {
  for (const child of started) child.kill('SIGKILL');
}

export interface WorkerProcess {
  id: string;
  child: ChildProcess;
  output(): string;
  /** kill -9, then waits for the exit. */
  kill9(): Promise<void>;
  /** SIGTERM (finish the running task, leave the registry), then waits for the exit. */
  stop(): Promise<number>;
}

/** Starts `cones-nodes worker --queue URL --id ID …args` and waits for its start line. */
export async function startWorker(url: string, id: string, args: string[]): Promise<WorkerProcess> {
  const child = spawn(process.execPath, [...cli, 'worker', '--queue', url, '--id', id, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, CONES_EXECUTION_PROVIDER: 'cpu' },
  });
  started.add(child);
  let out = '';
  const collect = (c: Buffer) => {
    out += c;
    if (process.env.DEBUG_QUEUE) process.stderr.write(`[${id}] ${c}`);
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exit = new Promise<number>((resolve) =>
    child.on('exit', (code) => {
      started.delete(child);
      resolve(code ?? -1);
    }),
  );
  const deadline = Date.now() + 60_000;
  while (!out.includes('taking tasks from')) {
    if (child.exitCode !== null || Date.now() > deadline)
      throw new Error(`worker ${id} did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    id,
    child,
    output: () => out,
    async kill9() {
      child.kill('SIGKILL');
      await exit;
    },
    async stop() {
      child.kill('SIGTERM');
      return exit;
    },
  };
}

/**
 * Resolves with the first recorded message matching `predicate`, waiting for new ones. Safe to run
 * several at once on one socket (each listens to the socket itself).
 */
export function nextMessage(
  socket: RecordingSocket,
  predicate: (m: { type: string; data: any }) => boolean,
  timeoutMs = 60_000,
): Promise<{ type: string; data: any }> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const found = socket.json().find(predicate);
      if (!found) return false;
      clearTimeout(timer);
      socket.ws.off('message', onMessage);
      resolve(found);
      return true;
    };
    // RecordingSocket records in its own 'message' listener, registered first: the message is there.
    const onMessage = () => void check();
    const timer = setTimeout(() => {
      socket.ws.off('message', onMessage);
      reject(new Error(`timed out; got ${JSON.stringify(socket.json().map((m) => m.type))}`));
    }, timeoutMs);
    if (!check()) socket.ws.on('message', onMessage);
  });
}

export type Recorded = { type: string; data: any } | { binary: Buffer };

export interface PromptRun {
  promptId: string;
  /** The socket's messages from the prompt's execution_start to its last event. */
  messages: Recorded[];
  end: { type: string; data: any };
}

const TERMINAL = new Set(['execution_success', 'execution_error', 'execution_interrupted']);

/**
 * Queues `prompt` on `baseUrl` for a fresh /ws client; `during` runs once the prompt is queued (with
 * the socket, to watch events). Resolves when the prompt ended.
 */
export async function runPrompt(
  baseUrl: string,
  prompt: object,
  during?: (socket: RecordingSocket, promptId: string) => Promise<void>,
  timeoutMs = 120_000,
): Promise<PromptRun> {
  const clientId = `c-${Math.random().toString(36).slice(2)}`;
  const socket = await RecordingSocket.open(`${baseUrl.replace('http', 'ws')}/ws?clientId=${clientId}`);
  try {
    const res = await fetch(`${baseUrl}/prompt`, {
      method: 'POST',
      body: JSON.stringify({ prompt, client_id: clientId }),
    });
    const body = (await res.json()) as { prompt_id?: string };
    if (!body.prompt_id) throw new Error(`prompt refused: ${JSON.stringify(body)}`);
    const promptId = body.prompt_id;
    const work = during?.(socket, promptId);
    const end = await nextMessage(
      socket,
      (m) => TERMINAL.has(m.type) && m.data?.prompt_id === promptId,
      timeoutMs,
    );
    await work;
    const all = socket.messages;
    const start = all.findIndex(
      (m) => 'type' in m && m.type === 'execution_start' && m.data.prompt_id === promptId,
    );
    const last = all.indexOf(end);
    return { promptId, messages: all.slice(start, last + 1), end };
  } finally {
    socket.close();
  }
}

/** Event order as the client sees it: type, node and step of each event; `preview` for binary frames. */
export function timeline(run: PromptRun): string[] {
  return run.messages.map((m) => {
    if ('binary' in m) return 'preview';
    const d = m.data ?? {};
    const step =
      d.value !== undefined ? ` ${d.value}/${d.max}` : d.step !== undefined ? ` ${d.step}/${d.steps}` : '';
    return `${m.type}${d.node ? ` #${d.node}` : ''}${step}`;
  });
}

export function previews(run: PromptRun): Buffer[] {
  return run.messages.filter((m): m is { binary: Buffer } => 'binary' in m).map((m) => m.binary);
}

/** Waits until `check` returns a value other than undefined (polling), or fails after `timeoutMs`. */
export async function waitUntil<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
