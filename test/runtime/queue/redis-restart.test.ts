/**
 * Redis restarted under a running service (issue #10 item 3): the front reports the outage and the
 * reconnection, and every queued prompt still finishes exactly once, whether Redis kept its data
 * (append-only file) or came back empty. Real redis-server, a real `cones-nodes worker` process, the
 * front as `serve --queue` builds it, a real /ws client; tiny demo model, 64 px.
 */
import { readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { QueueRuntime } from '../../../src/runtime/queue/queue-runtime.js';
import type { RunningServer } from '../../../src/server/index.js';
import { startServer } from '../../../src/server/index.js';
import { describeWithRedis, type RedisServer, startRedisServer } from '../../helpers/redis-server.js';
import { RecordingSocket } from '../../server/helpers.js';
import { txt2imgPrompt } from './prompts.js';
import { type QueueWorkerProcess, spawnQueueWorker, stopProcess } from './worker-process.js';

const PROMPTS = 3;

interface Cluster {
  redis: RedisServer;
  root: string;
  queue: QueueRuntime;
  front: RunningServer;
  worker: QueueWorkerProcess;
  frontLog: string[];
}

let cluster: Cluster | undefined;

async function startCluster(persistence: boolean): Promise<Cluster> {
  const redis = await startRedisServer({ persistence });
  const root = await mkdtemp(join(tmpdir(), 'cones-redis-restart-'));
  const frontLog: string[] = [];
  const partial: Partial<Cluster> = { redis, root, frontLog };
  cluster = partial as Cluster;
  partial.worker = await spawnQueueWorker(redis.url, join(root, 'worker'));
  partial.queue = await QueueRuntime.connect({
    url: redis.url,
    checkpointFolders: [join(root, 'front', 'models', 'checkpoints')],
    log: (line) => frontLog.push(line),
  });
  partial.front = await startServer({
    port: 0,
    dataDir: join(root, 'front'),
    frontEnd: null,
    webExtensionDir: null,
    serviceOptions: { runtime: partial.queue, log: (line) => frontLog.push(line) },
  });
  return partial as Cluster;
}

afterEach(async () => {
  const c = cluster;
  cluster = undefined;
  if (!c) return;
  await c.front?.close();
  await c.queue?.close();
  if (c.worker) await stopProcess(c.worker.child);
  await c.redis.stop();
  await rm(c.root, { recursive: true, force: true });
}, 60_000);

/**
 * Queues PROMPTS prompts for one /ws client, restarts Redis while the first one samples, and waits for
 * all of them; returns what the client saw.
 */
async function restartDuringPrompts(c: Cluster, restart: () => Promise<void>) {
  const clientId = 'redis-restart-client';
  const socket = await RecordingSocket.open(`${c.front.url.replace('http', 'ws')}/ws?clientId=${clientId}`);
  try {
    const ids: string[] = [];
    for (let i = 0; i < PROMPTS; i++) {
      const res = await fetch(`${c.front.url}/prompt`, {
        method: 'POST',
        body: JSON.stringify({
          client_id: clientId,
          prompt: txt2imgPrompt({ steps: 6, seed: 100 + i, prefix: `restart-${i}` }),
        }),
      });
      expect(res.status).toBe(200);
      ids.push(((await res.json()) as { prompt_id: string }).prompt_id);
    }
    // The first prompt reached its KSampler (the front's own event, not one that came through Redis):
    // its sampling task is queued or running, the others wait in the front's queue. Redis goes away now.
    await socket.next(
      (m) => m.type === 'executing' && m.data.prompt_id === ids[0] && m.data.node === '3',
      120_000,
    );
    await restart();
    for (const id of ids)
      await socket.next(
        (m) => m.type === 'executing' && m.data.prompt_id === id && m.data.node === null,
        120_000,
      );
    return { ids, messages: socket.messages as Array<{ type: string; data: any }> };
  } finally {
    socket.close();
  }
}

async function expectEachPromptDoneOnce(
  c: Cluster,
  ids: string[],
  messages: Array<{ type: string; data: any }>,
) {
  for (const [i, id] of ids.entries()) {
    const history = (await (await fetch(`${c.front.url}/history/${id}`)).json()) as Record<string, any>;
    expect(history[id]?.status?.status_str, `prompt ${i}: ${JSON.stringify(history[id]?.status)}`).toBe(
      'success',
    );
    const ends = messages.filter(
      (m) =>
        m.data?.prompt_id === id &&
        ['execution_success', 'execution_error', 'execution_interrupted'].includes(m.type),
    );
    expect(ends.map((m) => m.type)).toEqual(['execution_success']);
    // SaveImage ran once for the prompt: one file, one `executed` event.
    const files = readdirSync(join(c.root, 'front', 'output')).filter((f) => f.startsWith(`restart-${i}_`));
    expect(files, `output files of prompt ${i}`).toHaveLength(1);
    expect(messages.filter((m) => m.type === 'executed' && m.data.prompt_id === id)).toHaveLength(1);
  }
  // The last prompt ran after Redis was back: its sampling steps still reach the client live, so the
  // front's pub/sub subscription came back too (results alone could also come from stored outcomes).
  const last = ids[ids.length - 1];
  expect(messages.some((m) => m.type === 'progress' && m.data.prompt_id === last)).toBe(true);
}

describeWithRedis('distributed mode: Redis restarted while prompts are queued and running', () => {
  it('with its data kept (append-only file): the front reports it, and every prompt finishes once', async () => {
    const c = await startCluster(true);
    const { ids, messages } = await restartDuringPrompts(c, () => c.redis.restart({ downMs: 1500 }));
    await expectEachPromptDoneOnce(c, ids, messages);
    const log = c.frontLog.join('\n');
    expect(log).toMatch(/lost the connection to redis:\/\//);
    expect(log).toMatch(/connected to redis:\/\/\S+ again/);
  }, 180_000);

  it('coming back empty (killed, no persistence): every prompt still finishes once', async () => {
    const c = await startCluster(false);
    const { ids, messages } = await restartDuringPrompts(c, () =>
      c.redis.restart({ signal: 'SIGKILL', downMs: 1500 }),
    );
    await expectEachPromptDoneOnce(c, ids, messages);
    expect(c.frontLog.join('\n')).toMatch(/lost the connection to redis:\/\//);
  }, 180_000);
});
