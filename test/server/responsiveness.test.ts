/**
 * Issue #2 item 6: heavy node work runs on runtime workers, so the HTTP server keeps answering while
 * a node computes. A node spins a worker for 2 s; /system_stats is polled throughout.
 *
 * The figure is "< 100 ms". The median is held to it; the worst single answer only to 1 s,
 * because on the 2-core CI machine another test file may hold the second core for a moment — a main
 * thread blocked by the node would instead answer after the whole 2 s.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, RecordingSocket, startTestServer, type TestServer } from './helpers.js';

let server: TestServer;
let socket: RecordingSocket;
const clientId = 'responsiveness-client';

beforeAll(async () => {
  server = await startTestServer();
  socket = await RecordingSocket.open(`${server.url.replace('http', 'ws')}/ws?clientId=${clientId}`);
});
afterAll(async () => {
  socket?.close();
  await server?.dispose();
});

describe('server responsiveness', () => {
  it('/system_stats answers in < 100 ms (median) while a node computes for 2 s on a worker', async () => {
    const res = await fetch(`${server.url}/prompt`, {
      method: 'POST',
      body: JSON.stringify({
        client_id: clientId,
        prompt: { '1': { class_type: 'TestWorkerSpin', inputs: { ms: 2000 } } },
      }),
    });
    expect(res.status).toBe(200);
    const { prompt_id: promptId } = await json(res);
    // the node has reported work from the worker: it is computing now
    await socket.next((m) => m.type === 'progress' && m.data.prompt_id === promptId);

    const done = () =>
      socket
        .json()
        .some((m) => m.type === 'executing' && m.data.prompt_id === promptId && m.data.node === null);
    const latencies: number[] = [];
    while (!done()) {
      const t0 = performance.now();
      const stats = await fetch(`${server.url}/system_stats`);
      const body = await json(stats);
      const ms = performance.now() - t0;
      if (done()) break; // answered after the node finished: says nothing about responsiveness
      expect(stats.status).toBe(200);
      expect(body.system.os).toBeTypeOf('string');
      latencies.push(ms);
      await new Promise((r) => setTimeout(r, 50));
    }
    const history = await json(fetch(`${server.url}/history/${promptId}`));
    expect(history[promptId].status.status_str).toBe('success');

    latencies.sort((a, b) => a - b);
    expect(latencies.length).toBeGreaterThanOrEqual(5);
    expect(latencies[Math.floor(latencies.length / 2)]).toBeLessThan(100);
    expect(latencies[latencies.length - 1]).toBeLessThan(1000);
  });
});
