import { CallWrapper, ComfyApi, PromptBuilder } from '@saintno/comfyui-sdk';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gradientPng, scalePrompt, sleepPrompt, startTestServer, type TestServer } from './helpers.js';

let server: TestServer;
let api: ComfyApi;

beforeAll(async () => {
  server = await startTestServer();
  api = new ComfyApi(server.url, 'saintno-test').init(20, 100);
  await api.waitForReady();
});
afterAll(async () => {
  api?.destroy();
  await server?.dispose();
});

function run<T>(
  wrapper: CallWrapper<any, any, any, any>,
): Promise<{ result: T | false | undefined; error?: Error }> {
  return new Promise((resolve) => {
    let error: Error | undefined;
    wrapper.onFailed((e) => {
      error = e;
    });
    wrapper.run().then((result) => resolve({ result: result as T, error }));
  });
}

describe('@saintno/comfyui-sdk against the server', () => {
  it('becomes ready (health ping, feature probes, WebSocket) and lists the nodes', async () => {
    expect(api.isReady).toBe(true);
    const defs = await api.getNodeDefs();
    expect(defs).toHaveProperty('LoadImage');
    expect(defs).toHaveProperty('SaveImage');
    expect(await api.getNodeDefs('NoSuchNode')).toBe(null);
    expect((await api.getSystemStats()).system.os).toBe('posix');
  });

  it('uploads an image, runs LoadImage → ImageScale → SaveImage, downloads the output, then reruns it cached', async () => {
    const uploaded = await api.uploadImage(await gradientPng(32, 20), 'saintno-in.png');
    expect(uploaded).not.toBe(false);
    if (!uploaded) return;
    expect(uploaded.info.filename).toBe('saintno-in.png');

    const seen: string[] = [];
    const offs = ['executing', 'executed', 'execution_success', 'execution_cached'].map((type) =>
      api.on(type as 'executed', () => seen.push(type)),
    );
    const workflow = new PromptBuilder(
      scalePrompt(uploaded.info.filename, 24, 16, 'saintno') as any,
      [],
      ['out'],
    ).setOutputNode('out', '3');
    const first = await run<{
      out: { images: Array<{ filename: string; subfolder: string; type: string }> };
    }>(new CallWrapper(api, workflow));
    expect(first.error).toBeUndefined();
    if (!first.result) throw new Error('no result');
    const image = first.result.out.images[0];
    expect(image).toMatchObject({ subfolder: '', type: 'output' });
    expect(seen).toEqual(expect.arrayContaining(['executing', 'executed', 'execution_success']));

    const blob = await api.getImage(image as never);
    const meta = await sharp(Buffer.from(await blob.arrayBuffer())).metadata();
    expect([meta.width, meta.height]).toEqual([24, 16]);

    const second = await run<{ out: { images: unknown[] } }>(new CallWrapper(api, workflow));
    expect(second.error).toBeUndefined();
    expect(second.result ? second.result.out.images : null).toEqual([image]);
    expect(seen).toContain('execution_cached');
    for (const off of offs) off();
  });

  it('uploads a mask onto an uploaded image', async () => {
    const base = await api.uploadImage(await gradientPng(10, 8), 'saintno-base.png');
    if (!base) throw new Error('upload failed');
    const mask = await api.uploadMask(await gradientPng(5, 4, true), base.info);
    if (!mask) throw new Error('mask upload failed');
    expect(mask.info).toMatchObject({ filename: 'mask.png', type: 'input' });
    const stored = await sharp(Buffer.from(await (await api.getImage(mask.info)).arrayBuffer())).metadata();
    expect([stored.width, stored.height, stored.channels]).toEqual([10, 8, 4]);
  });

  it('reports progress and is interrupted mid-node', async () => {
    const progress: number[] = [];
    const workflow = new PromptBuilder(sleepPrompt(20_000, 400) as any, [], ['out']).setOutputNode(
      'out',
      '3',
    );
    const wrapper = new CallWrapper(api, workflow).onProgress((p) => {
      progress.push(p.value);
      if (progress.length === 3) void api.interrupt();
    });
    const outcome = await run(wrapper);
    expect(outcome.result).toBe(false);
    expect(outcome.error?.name).toBe('ExecutionInterruptedError');
    expect(progress.length).toBeGreaterThanOrEqual(3);
    expect(progress.length).toBeLessThan(400);
  });
});
