/**
 * Service benchmark (`npm run bench`): prompt validation + scheduling on the engine, WebSocket event
 * fan-out latency to 500 clients through the real server, and native-protocol frame size / encode time
 * for a 512×512×3 float32 image in msgpack versus JSON. Figures print as a table; compare ratios
 * within one run.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { createPromptService } from '../src/engine/prompt-service.js';
import type { ApiPrompt, EngineEvent, PromptService } from '../src/engine/service-types.js';
import { createTestNodes } from '../src/engine/testing-nodes.js';
import { decodeFrame, encodeFrame } from '../src/server/native/codec.js';
import { startServer } from '../src/server/start-server.js';

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function stats(samples: number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  return { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), max: sorted[sorted.length - 1] };
}

const fmt = (ms: number) => (ms < 1 ? `${(ms * 1000).toFixed(0)} µs` : `${ms.toFixed(2)} ms`);

/** A chain TestConstant → 198 × TestAdd → TestOutput (200 nodes); `salt` makes each prompt distinct. */
function chainPrompt(salt: number): ApiPrompt {
  const prompt: ApiPrompt = { '1': { class_type: 'TestConstant', inputs: { value: salt % 1000 } } };
  for (let i = 2; i < 200; i++)
    prompt[String(i)] = { class_type: 'TestAdd', inputs: { a: [String(i - 1), 0], b: 1 } };
  prompt['200'] = { class_type: 'TestOutput', inputs: { value: ['199', 0] } };
  return prompt;
}

async function benchQueuePrompt(dataDir: string) {
  const service = createPromptService({ dataDir, extraNodes: createTestNodes().nodes, log: () => {} });
  try {
    const times: number[] = [];
    const runs: number[] = [];
    for (let i = 0; i < 60; i++) {
      const t0 = performance.now();
      const result = await service.queuePrompt({ prompt: chainPrompt(i) });
      const t1 = performance.now();
      if (!result.ok) throw new Error(`prompt rejected: ${result.error.message}`);
      await service.waitForPrompt(result.prompt_id);
      const t2 = performance.now();
      if (i >= 10) {
        times.push(t1 - t0);
        runs.push(t2 - t0);
      }
    }
    return { queue: stats(times), endToEnd: stats(runs) };
  } finally {
    await service.close();
  }
}

/** The engine, with one extra ability for the benchmark: pushing events into its listeners. */
function withEventInjection(service: PromptService): { service: PromptService; emit(e: EngineEvent): void } {
  const listeners = new Set<(e: EngineEvent) => void>();
  const wrapped = new Proxy(service, {
    get(target, key, receiver) {
      if (key === 'onEvent') {
        return (listener: (e: EngineEvent) => void) => {
          listeners.add(listener);
          const off = target.onEvent(listener);
          return () => {
            listeners.delete(listener);
            off();
          };
        };
      }
      const value = Reflect.get(target, key, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return {
    service: wrapped,
    emit: (e) => {
      for (const l of listeners) l(e);
    },
  };
}

const CLIENT_WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { performance } = require('node:perf_hooks');
const WebSocket = require(workerData.wsPath);
const latencies = [];
let open = 0;
const sockets = [];
for (let i = 0; i < workerData.clients; i++) {
  const ws = new WebSocket(workerData.url + '?clientId=bench-' + i);
  sockets.push(ws);
  ws.on('open', () => { if (++open === workerData.clients) parentPort.postMessage({ ready: true }); });
  ws.on('message', (raw) => {
    const now = performance.timeOrigin + performance.now();
    const m = JSON.parse(raw.toString());
    if (m.type === 'bench_ping') latencies.push(now - m.data.sent);
  });
}
parentPort.on('message', (m) => {
  if (m === 'report') parentPort.postMessage({ latencies });
  if (m === 'close') { for (const ws of sockets) ws.close(); setTimeout(() => process.exit(0), 200); }
});
`;

async function benchFanOut(dataDir: string, clients: number, events: number) {
  const engine = createPromptService({ dataDir, log: () => {} });
  const { service, emit } = withEventInjection(engine);
  const server = await startServer({ port: 0, service, dirs: engine.env.dirs });
  const { createRequire } = await import('node:module');
  const wsPath = createRequire(import.meta.url).resolve('ws');
  const worker = new Worker(CLIENT_WORKER, {
    eval: true,
    workerData: { url: `${server.url.replace('http', 'ws')}/ws`, clients, wsPath },
  });
  try {
    await new Promise<void>((resolve) => worker.once('message', () => resolve()));
    await new Promise((r) => setTimeout(r, 300));
    const sendTimes: number[] = [];
    for (let i = 0; i < events; i++) {
      const t0 = performance.now();
      emit({
        kind: 'json',
        clientId: null,
        type: 'bench_ping',
        data: { i, sent: performance.timeOrigin + performance.now() },
      });
      sendTimes.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, 10));
    }
    await new Promise((r) => setTimeout(r, 500));
    const report = await new Promise<{ latencies: number[] }>((resolve) => {
      worker.once('message', resolve);
      worker.postMessage('report');
    });
    return {
      latency: stats(report.latencies),
      received: report.latencies.length,
      expected: clients * events,
      publish: stats(sendTimes),
    };
  } finally {
    worker.postMessage('close');
    await new Promise((r) => worker.once('exit', r));
    await server.close();
    await engine.close();
  }
}

function benchEncoding() {
  const values = new Float32Array(512 * 512 * 3);
  for (let i = 0; i < values.length; i++) values[i] = ((i * 2654435761) % 1000003) / 1000003;
  const message = {
    type: 'get_output',
    id: 1,
    data: { tensor: { dtype: 'float32', shape: [512, 512, 3], data: new Uint8Array(values.buffer) } },
  };
  const naive = {
    type: 'get_output',
    id: 1,
    data: { tensor: { dtype: 'float32', shape: [512, 512, 3], data: Array.from(values) } },
  };
  const time = (fn: () => unknown, n: number) => {
    fn();
    const samples: number[] = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      fn();
      samples.push(performance.now() - t0);
    }
    return stats(samples).p50;
  };
  const packed = encodeFrame(message, 'msgpack') as Buffer;
  const json = encodeFrame(message, 'json') as string;
  const naiveJson = JSON.stringify(naive);
  return [
    {
      name: 'msgpack (bin)',
      bytes: packed.length,
      encode: time(() => encodeFrame(message, 'msgpack'), 20),
      decode: time(() => decodeFrame(packed, true), 20),
    },
    {
      name: 'JSON ($bytes base64)',
      bytes: Buffer.byteLength(json),
      encode: time(() => encodeFrame(message, 'json'), 20),
      decode: time(() => decodeFrame(Buffer.from(json), false), 20),
    },
    {
      name: 'JSON number array',
      bytes: Buffer.byteLength(naiveJson),
      encode: time(() => JSON.stringify(naive), 5),
      decode: time(() => JSON.parse(naiveJson), 5),
    },
  ];
}

async function main() {
  const dataDir = await mkdtemp(join(tmpdir(), 'cones-bench-'));
  try {
    console.log('cones-nodes service benchmark');
    console.log(`node ${process.version}, ${process.platform}/${process.arch}\n`);

    const q = await benchQueuePrompt(dataDir);
    console.log('1. queuePrompt of a 200-node prompt (validation + scheduling), 50 runs');
    console.log(`   queuePrompt      p50 ${fmt(q.queue.p50)}   p99 ${fmt(q.queue.p99)}`);
    console.log(
      `   queued → done    p50 ${fmt(q.endToEnd.p50)}   p99 ${fmt(q.endToEnd.p99)}  (executes 200 trivial nodes)\n`,
    );

    const f = await benchFanOut(dataDir, 500, 200);
    console.log('2. WebSocket fan-out: 200 broadcast events to 500 /ws clients (clients in a worker thread)');
    console.log(`   delivered ${f.received}/${f.expected}`);
    console.log(
      `   latency          p50 ${fmt(f.latency.p50)}   p99 ${fmt(f.latency.p99)}   max ${fmt(f.latency.max)}`,
    );
    console.log(
      `   publish (server) p50 ${fmt(f.publish.p50)}   p99 ${fmt(f.publish.p99)}  (hub loop over 500 sockets)\n`,
    );

    const e = benchEncoding();
    console.log('3. 512×512×3 float32 image as a native frame');
    const base = e[0];
    for (const row of e) {
      console.log(
        `   ${row.name.padEnd(22)} ${(row.bytes / 1048576).toFixed(2).padStart(6)} MiB (×${(row.bytes / base.bytes).toFixed(2)})` +
          `   encode ${fmt(row.encode).padStart(9)} (×${(row.encode / base.encode).toFixed(1)})` +
          `   decode ${fmt(row.decode).padStart(9)} (×${(row.decode / base.decode).toFixed(1)})`,
      );
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
