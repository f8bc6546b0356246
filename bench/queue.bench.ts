/**
 * `npm run bench:queue` — small prompts through the HTTP API: single-process mode (`cones-nodes serve`)
 * versus distributed mode (`serve --queue redis://…` plus 1, 2, 4 `cones-nodes worker` processes on a
 * private redis-server), and the overhead per task of the queue hop itself.
 *
 * Every server and worker is its own process started through the CLI (tsx), as a user would run them;
 * the bench process only sends prompts and listens on /ws. Each prompt is the txt2img example on the
 * tiny random demo model at a small size (default 64×64 px = 8×8 latent, 2 sampling steps), each with
 * its own seed so no output comes from the cache. Two figures per setup:
 *   - latency: prompts sent one at a time; POST /prompt → `executing {node: null}` on /ws, p50/p99;
 *   - throughput: a burst of prompts queued at once; prompts/s from the first POST to the last finish
 *     (p50/p99 of the burst's latencies include queueing).
 * Worker counts above the machine's cores measure contention, not scale-out: read them with `nproc`.
 *
 * Options: --prompts N (per phase, default 30), --size PX (default 64), --steps N (default 2),
 * --workers 1,2,4, --hop N (queue-hop calls, default 300), --single-only, --queue-only.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { QueueRuntime } from '../src/runtime/queue/queue-runtime.js';
import { channels } from '../src/runtime/queue/wire.js';
import type { RuntimeClient } from '../src/runtime/task-map.js';
import { WorkerRuntime } from '../src/runtime/worker-runtime.js';
import { ensureDemoCheckpoint } from '../src/sd/tiny-model.js';
import { type RedisServer, redisSkipReason, startRedisServer } from '../test/helpers/redis-server.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const cli = join(root, 'src', 'cli.ts');

export interface Stats {
  p50: number;
  p99: number;
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

export function stats(samples: number[]): Stats {
  const sorted = [...samples].sort((a, b) => a - b);
  return { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99) };
}

export const fmtMs = (ms: number) =>
  Number.isNaN(ms) ? '–' : ms < 1 ? `${(ms * 1000).toFixed(0)} µs` : `${ms.toFixed(ms < 10 ? 2 : 1)} ms`;

// ------------------------------------------------------------------------------------------ processes

export interface Child {
  process: ChildProcess;
  /** Everything it printed so far (last 20 kB), for error messages. */
  output(): string;
  stop(): Promise<void>;
}

const children = new Set<ChildProcess>();
// Ctrl-C or a crash of the bench must not leave servers and workers running.
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});
process.once('SIGINT', () => process.exit(130));

/** Runs `cones-nodes <args>` from source (tsx), as its own process; its output is collected. */
export function startCli(args: string[], env: NodeJS.ProcessEnv = {}): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', cli, ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let output = '';
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  return {
    process: child,
    output: () => output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Waits until the child prints a line matching `pattern`; returns the match. */
export async function waitForOutput(
  child: Child,
  pattern: RegExp,
  timeoutMs = 120_000,
): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const match = child.output().match(pattern);
    if (match) return match;
    if (child.process.exitCode !== null || child.process.signalCode !== null)
      throw new Error(
        `process exited (${child.process.exitCode ?? child.process.signalCode}):\n${child.output()}`,
      );
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no line matching ${pattern} within ${timeoutMs} ms:\n${child.output()}`);
}

/** `cones-nodes serve --port 0 …`; resolves with its URL once it listens. */
export async function startServe(
  extraArgs: string[],
  dataDir: string,
): Promise<{ url: string; child: Child }> {
  const child = startCli(['serve', '--port', '0', '--data-dir', dataDir, ...extraArgs]);
  try {
    const match = await waitForOutput(child, /listening on (http:\/\/[^\s]+)/);
    return { url: match[1], child };
  } catch (error) {
    await child.stop();
    throw error;
  }
}

// ------------------------------------------------------------------------------------------ prompts

const example = JSON.parse(readFileSync(join(root, 'examples', 'workflows', 'txt2img.api.json'), 'utf8'));

export function smallPrompt(seed: number, size: number, steps: number): Record<string, any> {
  const prompt = structuredClone(example);
  prompt['3'].inputs.seed = seed;
  prompt['3'].inputs.steps = steps;
  prompt['5'].inputs.width = size;
  prompt['5'].inputs.height = size;
  prompt['9'].inputs.filename_prefix = 'bench-queue';
  return prompt;
}

/** One /ws client that sends prompts and resolves each when its `executing {node: null}` arrives. */
export class PromptClient {
  private readonly finished = new Map<string, number>();
  private readonly failed = new Map<string, string>();
  private readonly waiters = new Map<string, () => void>();

  private constructor(
    readonly url: string,
    readonly clientId: string,
    private readonly ws: WebSocket,
  ) {
    ws.on('message', (raw, isBinary) => {
      if (isBinary) return;
      const now = performance.now();
      const m = JSON.parse(raw.toString()) as { type: string; data: any };
      const id = m.data?.prompt_id as string | undefined;
      if (!id) return;
      if (m.type === 'execution_error') this.failed.set(id, m.data.exception_message ?? 'execution_error');
      if (m.type === 'executing' && m.data.node === null) {
        this.finished.set(id, now);
        this.waiters.get(id)?.();
      }
    });
  }

  static async open(url: string, clientId: string): Promise<PromptClient> {
    const ws = new WebSocket(`${url.replace('http', 'ws')}/ws?clientId=${clientId}`);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return new PromptClient(url, clientId, ws);
  }

  /** POSTs the prompt; resolves with its end-to-end time in ms once it finished (rejects when it failed). */
  async run(prompt: Record<string, any>, timeoutMs = 600_000): Promise<number> {
    const t0 = performance.now();
    const res = await fetch(`${this.url}/prompt`, {
      method: 'POST',
      body: JSON.stringify({ client_id: this.clientId, prompt }),
    });
    const body = (await res.json()) as { prompt_id?: string };
    if (res.status !== 200 || !body.prompt_id)
      throw new Error(`POST /prompt: ${res.status} ${JSON.stringify(body)}`);
    const id = body.prompt_id;
    if (!this.finished.has(id)) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`prompt ${id} not finished in ${timeoutMs} ms`)),
          timeoutMs,
        );
        this.waiters.set(id, () => {
          clearTimeout(timer);
          resolve();
        });
      });
      this.waiters.delete(id);
    }
    const failure = this.failed.get(id);
    if (failure) throw new Error(`prompt ${id} failed: ${failure}`);
    return this.finished.get(id)! - t0;
  }

  close(): void {
    this.ws.close();
  }
}

export interface LoadResult {
  sequential: Stats;
  burst: Stats;
  promptsPerSecond: number;
}

let seedCounter = 1000;

/**
 * Warm-up, then `n` prompts one at a time through the first front, then a burst of `n` queued at once,
 * spread round-robin over all `urls` (one engine per front: each runs its prompts one after another).
 */
export async function measureLoad(
  urls: string[],
  n: number,
  size: number,
  steps: number,
): Promise<LoadResult> {
  const clients = await Promise.all(
    urls.map((url, i) => PromptClient.open(url, `bench-queue-${process.pid}-${i}`)),
  );
  try {
    // Warm-up: loads the model and builds its sessions, on every worker a burst reaches.
    await Promise.all(
      Array.from({ length: 4 * clients.length }, (_, i) =>
        clients[i % clients.length].run(smallPrompt(seedCounter++, size, steps)),
      ),
    );
    const sequential: number[] = [];
    for (let i = 0; i < n; i++)
      sequential.push(await clients[0].run(smallPrompt(seedCounter++, size, steps)));
    const t0 = performance.now();
    const burst = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        clients[i % clients.length].run(smallPrompt(seedCounter++, size, steps)),
      ),
    );
    const wall = performance.now() - t0;
    return { sequential: stats(sequential), burst: stats(burst), promptsPerSecond: (n * 1000) / wall };
  } finally {
    for (const client of clients) client.close();
  }
}

// ------------------------------------------------------------------------------------------ setups

interface Row {
  setup: string;
  result: LoadResult;
}

async function benchSingleProcess(dataDir: string, n: number, size: number, steps: number): Promise<Row> {
  const { url, child } = await startServe([], dataDir);
  try {
    return { setup: 'single process (`serve`)', result: await measureLoad([url], n, size, steps) };
  } finally {
    await child.stop();
  }
}

/**
 * Round trip of a task that does nothing (`debug.spin` for 0 ms, one progress step): what the transport
 * itself costs per task, after `warm` calls that start the worker.
 */
export async function measureHop(client: RuntimeClient, n: number, warm = 20): Promise<Stats> {
  for (let i = 0; i < warm; i++) await client.call('debug.spin', { ms: 0, steps: 1 });
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await client.call('debug.spin', { ms: 0, steps: 1 });
    samples.push(performance.now() - t0);
  }
  return stats(samples);
}

async function benchThreadHop(n: number): Promise<Stats> {
  const runtime = new WorkerRuntime();
  try {
    return await measureHop(runtime, n);
  } finally {
    await runtime.close();
  }
}

/** `cones-nodes worker --queue URL` with its own data folder (models, graph cache), once it takes tasks. */
async function startWorker(redisUrl: string, dataDir: string, id: string): Promise<Child> {
  const child = startCli(['worker', '--queue', redisUrl, '--data-dir', dataDir, '--id', id]);
  try {
    await waitForOutput(child, /taking tasks from/);
    return child;
  } catch (error) {
    await child.stop();
    throw error;
  }
}

interface Distributed {
  redis: RedisServer;
  fronts: Array<{ url: string; child: Child }>;
  workers: Child[];
  /** Fronts started again because they came up without their pub/sub subscription. */
  restartedFronts: number;
  stop(): Promise<void>;
}

/**
 * How many fronts listen on their events channel. A front that came up without that subscription
 * still gets every result, but only from the stored outcome about 2 s later (QueueRuntime's
 * reconcile), and no progress: measuring it would measure that fallback, not the queue.
 */
async function frontsSubscribed(redis: RedisServer): Promise<number> {
  const listening = await redis.command('PUBSUB', 'CHANNELS', `${channels.events('')}*`);
  return Array.isArray(listening) ? listening.length : 0;
}

/** A private redis-server, `fronts` × `serve --queue` and `workers` × `worker --queue`, each a process. */
async function startDistributed(baseDir: string, fronts: number, workers: number): Promise<Distributed> {
  const redis = await startRedisServer();
  const setup: Distributed = {
    redis,
    fronts: [],
    workers: [],
    restartedFronts: 0,
    async stop() {
      await Promise.all([...setup.fronts.map((f) => f.child.stop()), ...setup.workers.map((w) => w.stop())]);
      await redis.stop();
    },
  };
  try {
    await Promise.all(
      Array.from({ length: workers }, (_, i) =>
        startWorker(redis.url, join(baseDir, `worker-${i}`), `bench-${i}`).then((w) => setup.workers.push(w)),
      ),
    );
    // Fronts one at a time, each checked for its pub/sub subscription (see frontsSubscribed).
    for (let i = 0; i < fronts; i++) {
      for (let attempt = 1; ; attempt++) {
        const front = await startServe(['--queue', redis.url], join(baseDir, `front-${i}`));
        if ((await frontsSubscribed(redis)) === i + 1) {
          setup.fronts.push(front);
          break;
        }
        await front.child.stop();
        setup.restartedFronts++;
        if (attempt === 5) throw new Error(`front ${i}: no pub/sub subscription after ${attempt} starts`);
      }
    }
    return setup;
  } catch (error) {
    await setup.stop();
    throw error;
  }
}

async function benchDistributed(
  baseDir: string,
  fronts: number,
  workers: number,
  n: number,
  size: number,
  steps: number,
  hopCalls: number,
): Promise<{ row: Row; hop?: Stats }> {
  const setup = await startDistributed(baseDir, fronts, workers);
  try {
    const result = await measureLoad(
      setup.fronts.map((f) => f.url),
      n,
      size,
      steps,
    );
    if (setup.restartedFronts > 0)
      process.stderr.write(
        `  warning: ${setup.restartedFronts} front start(s) came up without their pub/sub subscription and were started again\n`,
      );
    const frontLabel = fronts === 1 ? '1 front' : `${fronts} fronts`;
    const row = {
      setup: `${frontLabel} + ${workers} worker${workers === 1 ? '' : 's'} (\`--queue\`)`,
      result,
    };
    if (hopCalls <= 0) return { row };
    // The queue hop alone: this process as a front (QueueRuntime), the same workers behind it.
    let queue = await QueueRuntime.connect({ url: setup.redis.url, checkpointFolders: [], log: () => {} });
    for (let attempt = 1; (await frontsSubscribed(setup.redis)) !== fronts + 1; attempt++) {
      await queue.close();
      if (attempt === 5) throw new Error('the bench front: no pub/sub subscription after 5 connects');
      process.stderr.write(
        '  warning: the bench front connected without its pub/sub subscription; connecting again\n',
      );
      queue = await QueueRuntime.connect({ url: setup.redis.url, checkpointFolders: [], log: () => {} });
    }
    try {
      return { row, hop: await measureHop(queue, hopCalls) };
    } finally {
      await queue.close();
    }
  } finally {
    await setup.stop();
  }
}

function loadTable(rows: Row[]): string[] {
  const lines = [
    '| setup | prompts/s (burst) | latency p50 (one at a time) | latency p99 (one at a time) | burst latency p50 | burst latency p99 |',
    '|---|--:|--:|--:|--:|--:|',
  ];
  for (const { setup, result: r } of rows) {
    lines.push(
      `| ${setup} | ${r.promptsPerSecond.toFixed(2)} | ${fmtMs(r.sequential.p50)} | ${fmtMs(r.sequential.p99)} | ${fmtMs(r.burst.p50)} | ${fmtMs(r.burst.p99)} |`,
    );
  }
  return lines;
}

async function main() {
  const { values } = parseArgs({
    options: {
      prompts: { type: 'string', default: '30' },
      size: { type: 'string', default: '64' },
      steps: { type: 'string', default: '2' },
      workers: { type: 'string', default: '1,2,4' },
      hop: { type: 'string', default: '300' },
      'single-only': { type: 'boolean', default: false },
      'queue-only': { type: 'boolean', default: false },
    },
  });
  const n = Number(values.prompts);
  const size = Number(values.size);
  const steps = Number(values.steps);
  const dataDir = await mkdtemp(join(tmpdir(), 'cones-bench-queue-'));
  try {
    await ensureDemoCheckpoint(join(dataDir, 'models', 'checkpoints'));
    console.log('cones-nodes queue benchmark');
    console.log(
      `node ${process.version}, ${process.platform}/${process.arch}, ${availableParallelism()} CPUs; ` +
        `txt2img on the tiny demo model, ${size}×${size} px, ${steps} steps, ${n} prompts per phase\n`,
    );
    const rows: Row[] = [];
    const hops: Array<{ transport: string; hop: Stats }> = [];
    const hopCalls = Number(values.hop);
    if (!values['queue-only']) {
      rows.push(await benchSingleProcess(dataDir, n, size, steps));
      hops.push({
        transport: 'worker thread (`WorkerRuntime`, single process)',
        hop: await benchThreadHop(hopCalls),
      });
    }
    if (!values['single-only']) {
      if (redisSkipReason) {
        console.log(`queue setups skipped: ${redisSkipReason.replace('distributed tests skipped: ', '')}\n`);
      } else {
        const counts = values.workers.split(',').map(Number);
        for (const workers of counts) {
          const measured = await benchDistributed(
            dataDir,
            1,
            workers,
            n,
            size,
            steps,
            workers === counts[0] ? hopCalls : 0,
          );
          rows.push(measured.row);
          if (measured.hop)
            hops.push({
              transport: `Redis queue (\`QueueRuntime\` → BullMQ → 1 \`worker\` process → its thread)`,
              hop: measured.hop,
            });
          process.stderr.write(`  measured: ${measured.row.setup}\n`);
        }
        // One engine runs its prompts one after another: more workers than fronts only help when several
        // fronts (or several users' fronts) share them.
        for (const workers of counts.filter((w) => w > 1)) {
          const measured = await benchDistributed(dataDir, workers, workers, n, size, steps, 0);
          rows.push(measured.row);
          process.stderr.write(`  measured: ${measured.row.setup}\n`);
        }
      }
    }
    console.log(loadTable(rows).join('\n'));
    console.log(
      `\nPer-task overhead: a task that does nothing (debug.spin 0 ms), ${hopCalls} calls one after another\n`,
    );
    console.log('| transport | p50 | p99 |\n|---|--:|--:|');
    for (const { transport, hop } of hops)
      console.log(`| ${transport} | ${fmtMs(hop.p50)} | ${fmtMs(hop.p99)} |`);
    if (hops.length === 2)
      console.log(
        `\nQueue hop (p50 difference): ${fmtMs(hops[1].hop.p50 - hops[0].hop.p50)} (target < 5 ms on loopback)`,
      );
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
