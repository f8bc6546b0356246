/**
 * Several fronts on one set of workers (issue #10 item 2): two `serve --queue` fronts (built as the
 * CLI builds them) and two real `cones-nodes worker` processes on a private redis-server. Each client
 * must see only its own prompt's events, previews and image; `/free` with unload_models must reach
 * every worker; and a worker asked to stop while Redis is down must still stop.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { QueueRuntime } from '../../../src/runtime/queue/queue-runtime.js';
import type { RunningServer } from '../../../src/server/index.js';
import { startServer } from '../../../src/server/index.js';
import { describeWithRedis, type RedisServer, startRedisServer } from '../../helpers/redis-server.js';
import { RecordingSocket } from '../../server/helpers.js';
import { txt2imgPrompt } from './prompts.js';
import { type QueueWorkerProcess, spawnQueueWorker, stopProcess } from './worker-process.js';

const STEPS = 4;

interface Front {
  server: RunningServer;
  queue: QueueRuntime;
  dataDir: string;
}

let redis: RedisServer;
let root: string;
const fronts: Front[] = [];
const workers: QueueWorkerProcess[] = [];

async function startFront(name: string): Promise<Front> {
  const dataDir = join(root, name);
  const queue = await QueueRuntime.connect({
    url: redis.url,
    checkpointFolders: [join(dataDir, 'models', 'checkpoints')],
    log: () => {},
  });
  const server = await startServer({
    port: 0,
    dataDir,
    frontEnd: null,
    webExtensionDir: null,
    serviceOptions: { runtime: queue, log: () => {} },
    runtimeDevices: () => queue.devices(),
  });
  const front = { server, queue, dataDir };
  fronts.push(front);
  return front;
}

type Message = { type: string; data: any } | { binary: Buffer };

/** Runs `prompt` for a fresh /ws client of `front`; resolves with the prompt id and everything the client saw. */
async function runOn(front: Front, prompt: object): Promise<{ id: string; messages: Message[] }> {
  const clientId = `shared-${Math.random().toString(36).slice(2)}`;
  const socket = await RecordingSocket.open(
    `${front.server.url.replace('http', 'ws')}/ws?clientId=${clientId}`,
  );
  try {
    const res = await fetch(`${front.server.url}/prompt`, {
      method: 'POST',
      body: JSON.stringify({ client_id: clientId, prompt }),
    });
    expect(res.status).toBe(200);
    const id = ((await res.json()) as { prompt_id: string }).prompt_id;
    await socket.next(
      (m) => m.type === 'executing' && m.data.prompt_id === id && m.data.node === null,
      120_000,
    );
    return { id, messages: [...socket.messages] };
  } finally {
    socket.close();
  }
}

async function devices(front: Front): Promise<Array<{ worker: { id: string; models: string[] } }>> {
  return ((await (await fetch(`${front.server.url}/system_stats`)).json()) as { devices: any[] }).devices;
}

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describeWithRedis('distributed mode: two fronts sharing two worker processes', () => {
  beforeAll(async () => {
    redis = await startRedisServer();
    root = await mkdtemp(join(tmpdir(), 'cones-shared-workers-'));
    workers.push(
      ...(await Promise.all([
        spawnQueueWorker(redis.url, join(root, 'w1'), ['--id', 'w1']),
        spawnQueueWorker(redis.url, join(root, 'w2'), ['--id', 'w2']),
      ])),
    );
    await startFront('front-a');
    await startFront('front-b');
    await waitUntil('both workers in /system_stats', async () => (await devices(fronts[0])).length === 2);
  }, 120_000);

  afterAll(async () => {
    for (const front of fronts) {
      await front.server.close();
      await front.queue.close();
    }
    await Promise.all(workers.map((w) => stopProcess(w.child)));
    await redis?.stop();
    if (root) await rm(root, { recursive: true, force: true });
  }, 60_000);

  it("prompts on both fronts at once: each client sees only its own prompt's events, previews and image", async () => {
    const [a, b] = await Promise.all([
      runOn(
        fronts[0],
        txt2imgPrompt({ steps: STEPS, seed: 11, prefix: 'shared-a', text: 'a photo of a dog' }),
      ),
      runOn(
        fronts[1],
        txt2imgPrompt({ steps: STEPS, seed: 12, prefix: 'shared-b', text: 'a photo of a dog' }),
      ),
    ]);
    for (const [run, other] of [
      [a, b],
      [b, a],
    ] as const) {
      const json = run.messages.filter((m): m is { type: string; data: any } => 'type' in m);
      const ids = new Set(json.map((m) => m.data?.prompt_id).filter((id) => id !== undefined));
      expect([...ids]).toEqual([run.id]);
      expect(json.filter((m) => m.type === 'execution_success')).toHaveLength(1);
      // KSampler's steps arrive once each, with one preview frame per step at most: none of the other's.
      const steps = json.filter((m) => m.type === 'progress' && m.data.node === '3').map((m) => m.data.value);
      expect(steps).toEqual(Array.from({ length: STEPS }, (_, i) => i + 1));
      const previews = run.messages.filter((m) => 'binary' in m).length;
      expect(previews).toBeGreaterThanOrEqual(1);
      expect(previews).toBeLessThanOrEqual(STEPS);
      expect(other.id).not.toBe(run.id);
    }
    const png = (front: Front, prefix: string) => {
      const dir = join(front.dataDir, 'output');
      const files = readdirSync(dir).filter((f) => f.startsWith(prefix));
      expect(files).toHaveLength(1);
      return readFileSync(join(dir, files[0]));
    };
    // Each image landed on the front that asked for it, and they differ (seeds 11 and 12).
    expect(png(fronts[0], 'shared-a').equals(png(fronts[1], 'shared-b'))).toBe(false);
    expect(readdirSync(join(fronts[0].dataDir, 'output')).some((f) => f.startsWith('shared-b'))).toBe(false);
  });

  it('/free with unload_models empties the models every worker holds, and the next prompt loads again', async () => {
    await runOn(
      fronts[0],
      txt2imgPrompt({ steps: STEPS, seed: 21, prefix: 'free-before', text: 'a photo of a dog' }),
    );
    await waitUntil('a worker holding the model', async () =>
      (await devices(fronts[0])).some((d) => d.worker.models.length > 0),
    );
    const res = await fetch(`${fronts[1].server.url}/free`, {
      method: 'POST',
      body: JSON.stringify({ unload_models: true, free_memory: true }),
    });
    expect(res.status).toBe(200);
    await waitUntil('no worker holding a model', async () =>
      (await devices(fronts[0])).every((d) => d.worker.models.length === 0),
    );
    const after = await runOn(
      fronts[0],
      txt2imgPrompt({ steps: STEPS, seed: 22, prefix: 'free-after', text: 'a photo of a dog' }),
    );
    expect(after.messages.some((m) => 'type' in m && m.type === 'execution_success')).toBe(true);
  });

  it('workers stop on SIGTERM while Redis is unreachable (no task running)', async () => {
    const lonely = await startRedisServer();
    // Three at once: where each one's loop is when Redis goes away differs, and each place must let go.
    const stranded = await Promise.all(
      ['x1', 'x2', 'x3'].map((id) => spawnQueueWorker(lonely.url, join(root, `w-${id}`), ['--id', id])),
    );
    try {
      await lonely.stop();
      await new Promise((r) => setTimeout(r, 500));
      for (const worker of stranded) worker.child.kill('SIGTERM');
      // Nothing to finish: each must exit on its own, not wait for a Redis that may never come back.
      expect(await Promise.all(stranded.map((w) => w.exited))).toEqual([0, 0, 0]);
    } finally {
      for (const worker of stranded) worker.child.kill('SIGKILL');
    }
  }, 60_000);
});
