/**
 * Distributed mode end to end: a private real redis-server, two `cones-nodes worker` processes started
 * with the CLI, a front (`startServer` with the queue runtime, as `serve --queue` builds it) and, for
 * comparison, a single-process server. The tiny demo checkpoint, 64 px, few steps.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { decodeConcept } from '../../../src/cones/file.js';
import { createTestNodes } from '../../../src/engine/testing-nodes.js';
import { QueueRuntime } from '../../../src/runtime/queue/queue-runtime.js';
import { writeTinyModel } from '../../../src/sd/tiny-model.js';
import type { RunningServer } from '../../../src/server/index.js';
import { startServer } from '../../../src/server/index.js';
import { describeWithRedis, type RedisServer, startRedisServer } from '../../helpers/redis-server.js';
import {
  killAllWorkers,
  nextMessage,
  previews,
  runPrompt,
  startWorker,
  timeline,
  type WorkerProcess,
  waitUntil,
} from './cluster.js';
import { txt2imgPrompt } from './prompts.js';

process.env.CONES_EXECUTION_PROVIDER = 'cpu';

function extraction(steps: number, prefix: string) {
  return {
    '1': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'tiny-sd1-demo.safetensors' } },
    '2': { class_type: 'ConesLoadSubjectImages', inputs: { subject: 'green-dotted-star', size: 64 } },
    '3': {
      class_type: 'ConesExtractConcept',
      inputs: {
        model: ['1', 0],
        clip: ['1', 1],
        vae: ['1', 2],
        images: ['2', 0],
        identifier: 'sks',
        class_noun: 'star',
        prior_count: 0,
        steps,
        learning_rate: 0.05,
        selection: 'top_fraction',
        top_fraction: 0.01,
        threshold: 0.1,
        scope: 'cross-attention K/V',
        batch_size: 1,
        prior_loss_weight: 1,
        resolution: 64,
        seed: 3,
        hflip: false,
        keep_training_data: false,
      },
    },
    '4': { class_type: 'ConesSaveConcept', inputs: { concept: ['3', 0], filename_prefix: prefix } },
  };
}

function outputFile(dir: string, prefix: string): Buffer {
  const files = readdirSync(dir).filter((f) => f.startsWith(prefix));
  expect(files, `files ${prefix}* in ${dir}`).toHaveLength(1);
  return readFileSync(join(dir, files[0]));
}

let redis: RedisServer;
let root: string;
let front: RunningServer;
let single: RunningServer;
let queue: QueueRuntime;
const workers = new Map<string, WorkerProcess>();
const frontLog: string[] = [];
const workerArgs = (id: string) => [
  '--data-dir',
  join(root, id),
  '--state-dir',
  join(root, 'shared-state'),
  // Recovery after kill -9 within seconds (the defaults are 30 s each).
  '--lock-ms',
  '3000',
  '--stalled-check-ms',
  '1000',
];

async function addWorker(id: string): Promise<void> {
  workers.set(id, await startWorker(redis.url, id, workerArgs(id)));
}

async function stats(): Promise<any> {
  return (await fetch(`${front.url}/system_stats`)).json();
}

/** The worker process running `task` now (from /system_stats, as a client would see it). */
async function workerRunning(task: string): Promise<WorkerProcess> {
  const id = await waitUntil(`a worker running ${task}`, async () => {
    const s = await stats();
    return s.devices.find((d: any) => d.worker.running === task)?.worker.id as string | undefined;
  });
  return workers.get(id)!;
}

describeWithRedis('distributed mode: serve --queue front, two cones-nodes worker processes', () => {
  beforeAll(async () => {
    redis = await startRedisServer();
    root = await mkdtemp(join(tmpdir(), 'cones-queue-'));
    // A checkpoint the front has and no worker has under the same weights: w1 lacks the file, w2
    // holds different weights under its name.
    await mkdir(join(root, 'front/models/checkpoints'), { recursive: true });
    await writeTinyModel(join(root, 'front/models/checkpoints/other.safetensors'), { seed: 1 });
    await mkdir(join(root, 'w2/models/checkpoints'), { recursive: true });
    await writeTinyModel(join(root, 'w2/models/checkpoints/other.safetensors'), { seed: 2 });
    await Promise.all([addWorker('w1'), addWorker('w2')]);
    queue = await QueueRuntime.connect({
      url: redis.url,
      checkpointFolders: [join(root, 'front/models/checkpoints')],
      log: (line) => {
        frontLog.push(line);
        if (process.env.DEBUG_QUEUE) console.error(line);
      },
    });
    const log = (line: string) => frontLog.push(line);
    front = await startServer({
      port: 0,
      dataDir: join(root, 'front'),
      frontEnd: null,
      webExtensionDir: null,
      serviceOptions: { runtime: queue, log, extraNodes: createTestNodes().nodes },
      runtimeDevices: () => queue.devices(),
    });
    single = await startServer({
      port: 0,
      dataDir: join(root, 'single'),
      frontEnd: null,
      webExtensionDir: null,
      serviceOptions: { log: () => {} },
    });
    await waitUntil('both workers in /system_stats', async () =>
      (await stats()).devices.length === 2 ? true : undefined,
    );
  }, 120_000);

  afterAll(async () => {
    const queueLines = frontLog.filter((l) => l.startsWith('queue'));
    if (queueLines.length > 0) console.error(`front queue log:\n${queueLines.join('\n')}`);
    await front?.close();
    await single?.close();
    await queue?.close();
    await Promise.all([...workers.values()].map((w) => w.stop()));
    killAllWorkers();
    await redis?.stop();
    if (root) await rm(root, { recursive: true, force: true });
  }, 60_000);

  it('/system_stats lists each worker as a device', async () => {
    const s = await stats();
    expect(s.devices.map((d: any) => d.worker.id).sort()).toEqual(['w1', 'w2']);
    for (const d of s.devices) {
      expect(d).toMatchObject({ type: 'cpu', torch_vram_total: 0 });
      expect(d.name).toContain(d.worker.id);
      expect(d.vram_total).toBeGreaterThan(0);
    }
  });

  it('gives the same PNG bytes, event order and preview frames as single-process mode', async () => {
    const reference = await runPrompt(single.url, txt2imgPrompt({ steps: 6, prefix: 'same' }));
    const distributed = await runPrompt(front.url, txt2imgPrompt({ steps: 6, prefix: 'same' }));
    expect(reference.end.type).toBe('execution_success');
    expect(distributed.end.type).toBe('execution_success');
    expect(timeline(distributed)).toEqual(timeline(reference));
    expect(timeline(distributed).filter((t) => t === 'preview')).toHaveLength(6);
    expect(previews(distributed)).toEqual(previews(reference));
    expect(outputFile(join(root, 'front/output'), 'same')).toEqual(
      outputFile(join(root, 'single/output'), 'same'),
    );
  }, 120_000);

  it("sends a model's tasks to the worker holding it: the other worker never loads it", async () => {
    const holders = async () =>
      (await stats()).devices.filter((d: any) => d.worker.models.length > 0).map((d: any) => d.worker.id);
    const before = await holders();
    expect(before).toHaveLength(1);
    // Each prompt runs four tasks on the model (two text encodes, sampling, decoding), one after another.
    for (const seed of [1, 2, 3]) {
      const prompt = txt2imgPrompt({ steps: 2, prefix: `affinity-${seed}` });
      prompt['3'].inputs.seed = seed;
      prompt['6'].inputs.text = `a photo of a cat, take ${seed}`;
      expect((await runPrompt(front.url, prompt)).end.type).toBe('execution_success');
    }
    expect(await holders()).toEqual(before);
  }, 120_000);

  it('/interrupt stops the task on the worker running it', async () => {
    const spin = {
      '1': { class_type: 'TestConstant', inputs: { value: 1 } },
      // Ten minutes of CPU unless interrupted.
      '2': { class_type: 'TestSleep', inputs: { value: ['1', 0], ms: 600_000, steps: 1000 } },
      '3': { class_type: 'TestOutput', inputs: { value: ['2', 0] } },
    };
    const run = await runPrompt(front.url, spin, async (socket, promptId) => {
      await nextMessage(socket, (m) => m.type === 'progress' && m.data.prompt_id === promptId);
      await fetch(`${front.url}/interrupt`, { method: 'POST', body: '{}' });
    });
    expect(run.end.type).toBe('execution_interrupted');
    // The worker let go of the task (it would spin for ten minutes otherwise).
    await waitUntil('no worker running debug.spin', async () =>
      (await stats()).devices.every((d: any) => d.worker.running !== 'debug.spin') ? true : undefined,
    );
  }, 120_000);

  it('fails with an error naming the checkpoint and its fingerprint when a worker lacks it', async () => {
    const run = await runPrompt(
      front.url,
      txt2imgPrompt({ steps: 2, prefix: 'missing', ckpt: 'other.safetensors' }),
    );
    expect(run.end.type).toBe('execution_error');
    const message = String(run.end.data.exception_message);
    expect(message).toContain("'other.safetensors'");
    expect(message).toMatch(/fingerprint [0-9a-f]{32}/);
    expect(message).toMatch(/worker w[12]/);
  }, 60_000);

  it('retries a sampling task whose worker was killed (kill -9): the client gets its image once', async () => {
    const steps = 400; // long enough to kill the worker mid-way (at step 10), short enough to run three times on a loaded machine
    const reference = await runPrompt(single.url, txt2imgPrompt({ steps, prefix: 'retry' }));
    let killed = '';
    const run = await runPrompt(
      front.url,
      txt2imgPrompt({ steps, prefix: 'retry' }),
      async (socket, promptId) => {
        await nextMessage(
          socket,
          (m) =>
            m.type === 'progress' &&
            m.data.prompt_id === promptId &&
            m.data.node === '3' &&
            m.data.value >= 10,
        );
        const victim = await workerRunning('sd.sample');
        killed = victim.id;
        await victim.kill9();
      },
    );
    expect(killed).not.toBe('');
    expect(run.end.type).toBe('execution_success');
    const executed = run.messages.filter((m) => 'type' in m && m.type === 'executed');
    expect(executed).toHaveLength(1);
    expect(outputFile(join(root, 'front/output'), 'retry')).toEqual(
      outputFile(join(root, 'single/output'), 'retry'),
    );
    expect(reference.end.type).toBe('execution_success');
    expect(frontLog.some((l) => /started again on worker w[12] \(attempt 2/.test(l))).toBe(true);
    workers.delete(killed);
    await addWorker(`${killed}b`);
  }, 300_000);

  it('resumes an extraction whose worker was killed (kill -9) from the last ξ checkpoint, with the identical concept', async () => {
    const steps = 400; // ξ is saved every 50 steps
    const reference = await runPrompt(single.url, extraction(steps, 'resume'), undefined, 300_000);
    expect(reference.end.type).toBe('execution_success');
    let killedAt = 0;
    const run = await runPrompt(
      front.url,
      extraction(steps, 'resume'),
      async (socket, promptId) => {
        const late = await nextMessage(
          socket,
          (m) => m.type === 'cones.loss' && m.data.prompt_id === promptId && m.data.step >= 55,
          240_000,
        );
        const victim = await workerRunning('cones.extract');
        killedAt = late.data.step;
        await victim.kill9();
        workers.delete(victim.id);
      },
      300_000,
    );
    expect(run.end.type).toBe('execution_success');
    expect(killedAt).toBeGreaterThanOrEqual(55);
    // After the kill the steps start again after a multiple of 50: the new worker resumed from a saved ξ.
    const stepsSeen = run.messages
      .filter((m): m is { type: string; data: any } => 'type' in m && m.type === 'cones.loss')
      .map((m) => m.data.step as number);
    const restart = stepsSeen.findIndex((s, i) => i > 0 && s <= stepsSeen[i - 1]);
    expect(restart).toBeGreaterThan(0);
    const resumedAt = stepsSeen[restart] - 1;
    expect(resumedAt % 50).toBe(0);
    expect(resumedAt).toBeGreaterThanOrEqual(50);
    expect(resumedAt).toBeLessThanOrEqual(stepsSeen[restart - 1]);
    expect(stepsSeen.at(-1)).toBe(steps);
    expect(
      frontLog.some((l) => l.includes('resuming extraction') && l.includes(`at step ${resumedAt}/${steps}`)),
    ).toBe(true);
    // The same concept neurons and description; only the creation time differs between the two runs.
    const concept = (server: string) => {
      const c = decodeConcept(outputFile(join(root, server, 'models/concepts'), 'resume'));
      return { layers: c.layers, description: { ...c.description, created: undefined } };
    };
    const resumed = concept('front');
    expect(resumed.layers.reduce((n, l) => n + l.indices.length, 0)).toBeGreaterThan(0);
    expect(resumed).toEqual(concept('single'));
  }, 400_000);

  it('/free with unload_models reaches every worker: none holds a model afterwards', async () => {
    await waitUntil('a worker holding a model', async () =>
      (await stats()).devices.some((d: any) => d.worker.models.length > 0) ? true : undefined,
    );
    const res = await fetch(`${front.url}/free`, {
      method: 'POST',
      body: JSON.stringify({ unload_models: true }),
    });
    expect(res.status).toBe(200);
    // Answered once every worker ran its unload hooks, so the next heartbeat already says so.
    await waitUntil('every worker reporting no models', async () =>
      (await stats()).devices.every((d: any) => d.worker.models.length === 0) ? true : undefined,
    );
    expect(frontLog.filter((l) => l.includes('unloading models failed'))).toEqual([]);
  }, 60_000);
});
