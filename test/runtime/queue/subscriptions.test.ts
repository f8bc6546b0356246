/**
 * Pub/sub is the fast path of distributed mode: a front learns a task's progress, previews and result
 * from its own channel, and a worker learns about interrupts from the cancel channel. A subscription
 * that is silently missing does not show in a single happy-path run (results still arrive, late, from
 * the stored outcome), so these tests open many fresh fronts and workers and check every one of them.
 * Real redis-server, real BullMQ, real worker threads; `debug.spin` as the task.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { QueueRuntime } from '../../../src/runtime/queue/queue-runtime.js';
import { QueueWorker } from '../../../src/runtime/queue/queue-worker.js';
import { InterruptedError } from '../../../src/shared/interrupted.js';
import { resolveRuntimeSettings } from '../../../src/shared/runtime-settings.js';
import { describeWithRedis, type RedisServer, startRedisServer } from '../../helpers/redis-server.js';

const FRESH_FRONTS = 40;
const FRESH_WORKERS = 10;

let redis: RedisServer;
let modelsDir: string;
const log: string[] = [];

function newWorker(id: string): QueueWorker {
  return new QueueWorker({
    url: redis.url,
    settings: resolveRuntimeSettings({ provider: 'cpu' }),
    modelsDir,
    id,
    log: (line) => log.push(line),
  });
}

function connectFront(): Promise<QueueRuntime> {
  return QueueRuntime.connect({ url: redis.url, checkpointFolders: [], log: (line) => log.push(line) });
}

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${log.slice(-20).join('\n')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describeWithRedis('distributed mode: pub/sub subscriptions of fronts and workers', () => {
  beforeAll(async () => {
    redis = await startRedisServer();
    modelsDir = await mkdtemp(join(tmpdir(), 'cones-queue-subs-'));
  });
  afterAll(async () => {
    await redis?.stop();
    if (modelsDir) await rm(modelsDir, { recursive: true, force: true });
  });

  it(`each of ${FRESH_FRONTS} freshly connected fronts receives its task's progress frames, in order`, async () => {
    const worker = newWorker('subs-progress');
    await worker.start();
    try {
      const missing: string[] = [];
      for (let i = 0; i < FRESH_FRONTS; i++) {
        const front = await connectFront();
        try {
          const steps: number[] = [];
          const result = await front.call(
            'debug.spin',
            { ms: 0, steps: 3 },
            { onProgress: (p) => steps.push(p.value) },
          );
          expect(result.steps).toBe(3);
          // Without the subscription the result still arrives (from the stored outcome), the progress never.
          if (steps.join(',') !== '1,2,3') missing.push(`front ${i}: progress [${steps.join(', ')}]`);
        } finally {
          await front.close();
        }
      }
      expect(missing).toEqual([]);
    } finally {
      await worker.close();
    }
  });

  it(`an interrupt reaches the running task on each of ${FRESH_WORKERS} freshly started workers`, async () => {
    const front = await connectFront();
    try {
      for (let i = 0; i < FRESH_WORKERS; i++) {
        const id = `subs-cancel-${i}`;
        const worker = newWorker(id);
        await worker.start();
        try {
          const controller = new AbortController();
          const call = front.call(
            'debug.spin',
            { ms: 120_000, steps: 1200 },
            { signal: controller.signal, onProgress: () => controller.abort() },
          );
          await expect(call).rejects.toBeInstanceOf(InterruptedError);
          // The worker heard the cancel and stopped: it reports no running task long before 120 s.
          await waitUntil(`worker ${id} to stop the interrupted task`, async () => {
            const info = (await front.workers()).find((w) => w.id === id);
            return info !== undefined && info.running === undefined;
          });
        } finally {
          await worker.close();
        }
      }
    } finally {
      await front.close();
    }
  });
});
