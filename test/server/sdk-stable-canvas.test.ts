import { Client, Workflow } from '@stable-canvas/comfyui-client';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { gradientPng, json, scalePrompt, sleepPrompt, startTestServer, type TestServer } from './helpers.js';

let server: TestServer;
let client: Client;

beforeAll(async () => {
  server = await startTestServer();
  client = new Client({
    api_host: new URL(server.url).host,
    WebSocket: WebSocket as never,
    clientId: 'canvas-test',
  });
  await client.connect();
});
afterAll(async () => {
  client?.close();
  await server?.dispose();
});

describe('@stable-canvas/comfyui-client against the server', () => {
  it('connects over WebSocket and lists the nodes, system stats and queue', async () => {
    const defs = await client.getNodeDefs();
    expect(defs).toHaveProperty('ImageScale');
    expect(defs.ImageScale.input.required).toHaveProperty('upscale_method');
    expect((await client.getSystemStats()).system).toHaveProperty('ram_total');
    expect(await client.getQueue()).toEqual({ Running: [], Pending: [] });
    expect(await client.getExtensions()).toEqual([]);
  });

  let uploadedName = '';
  let firstUrl = '';

  it('runs an uploaded image through LoadImage → ImageScale → SaveImage and downloads the output', async () => {
    // The SDK has no upload helper: the same multipart request it would send, with its ?clientId= habit.
    const form = new FormData();
    form.append('image', new Blob([await gradientPng(40, 30)], { type: 'image/png' }), 'canvas-in.png');
    const uploaded = await json(
      fetch(`${server.url}/upload/image?clientId=canvas-test`, { method: 'POST', body: form }),
    );
    expect(uploaded.name).toBe('canvas-in.png');
    uploadedName = uploaded.name;

    const events: string[] = [];
    const offs = ['execution_start', 'executed', 'execution_success'].map((type) =>
      client.on(type as 'executed', () => events.push(type)),
    );
    const first = await client.enqueue(scalePrompt(uploadedName, 20, 10, 'canvas'), {
      disable_random_seed: true,
    });
    for (const off of offs) off();
    expect(events.slice(0, 2)).toEqual(['execution_start', 'executed']);
    expect(first.images).toHaveLength(1);
    firstUrl = first.images[0].data as string;
    expect(firstUrl).toContain('/view?filename=canvas_');
    const downloaded = await fetch(firstUrl);
    const meta = await sharp(Buffer.from(await downloaded.arrayBuffer())).metadata();
    expect([meta.width, meta.height]).toEqual([20, 10]);
  });

  it('reruns the same prompt from the cache and still resolves with the saved image', async () => {
    expect(firstUrl).not.toBe('');
    const second = await client.enqueue(scalePrompt(uploadedName, 20, 10, 'canvas'), {
      disable_random_seed: true,
    });
    expect(second.images.map((i) => i.data)).toEqual([firstUrl]);
  });

  it('delivers progress events and keeps history readable by the SDK', async () => {
    const progress: number[] = [];
    await client.enqueue(sleepPrompt(200, 4), { progress: (p) => progress.push(p.value) });
    expect(progress).toEqual([1, 2, 3, 4]);
    const history = await client.getHistory(200);
    expect(history.History.length).toBeGreaterThanOrEqual(2);
  });

  it('runs a prompt in polling mode (/queue then /history?max_items=200)', async () => {
    const result = await client.enqueue_polling(scalePrompt(uploadedName, 12, 12, 'canvas_poll'), {
      polling_ms: 50,
    });
    expect(result.images).toHaveLength(1);
    expect(result.images[0].data).toContain('canvas_poll');
  });

  it('interrupts a long node through a Workflow instance', async () => {
    const workflow = new Workflow();
    const [value] = workflow.classes.TestConstant({ value: 1 });
    const [slept] = workflow.classes.TestSleep({ value, ms: 20_000, steps: 400 });
    workflow.classes.TestOutput({ value: slept });
    const instance = workflow.instance(client);
    await instance.enqueue();
    await new Promise<void>((resolve) => {
      const off = client.on('progress', () => {
        off();
        resolve();
      });
    });
    await instance.interrupt();
    // Rejected as interrupted: the 20 s node stopped at a check rather than finishing (not timed, so a
    // loaded machine cannot fail it).
    await expect(instance.wait()).rejects.toThrow(/interrupt/i);
  });
});
