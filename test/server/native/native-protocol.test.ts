import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { gradientPng, scalePrompt, sleepPrompt, startTestServer, type TestServer } from '../helpers.js';
import { NativeClient } from './native-client.js';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.dispose();
});

const nativeUrl = () => `${server.url.replace('http', 'ws')}/native`;

describe.each(['json', 'msgpack'] as const)('native protocol over %s frames', (encoding) => {
  let client: NativeClient;
  beforeAll(async () => {
    client = await NativeClient.open(nativeUrl(), encoding);
  });
  afterAll(() => client?.close());

  it('negotiates the encoding by subprotocol and answers hello with the client id', async () => {
    expect(client.ws.protocol).toBe(`cones.v1.${encoding}`);
    const hello = await client.request('hello', { protocol: 'cones.v1', client_id: `native-${encoding}` });
    expect(hello.type).toBe('hello');
    expect(hello.data).toMatchObject({ protocol: 'cones.v1', encoding, client_id: `native-${encoding}` });
  });

  it('lists node definitions, all or one', async () => {
    const all = await client.request('object_info');
    expect(all.data).toHaveProperty('LoadImage');
    const one = await client.request('object_info', { class: 'ImageScale' });
    expect(Object.keys(one.data)).toEqual(['ImageScale']);
  });

  it('uploads bytes, queues a prompt, receives its events and downloads the output as bytes and as a tensor', async () => {
    const png = await gradientPng(16, 12);
    const uploaded = await client.request('upload', {
      filename: `native-${encoding}.png`,
      bytes: new Uint8Array(png),
    });
    expect(uploaded.data).toEqual({ name: `native-${encoding}.png`, subfolder: '', type: 'input' });

    const queued = await client.request('queue_prompt', {
      prompt: scalePrompt(uploaded.data.name, 8, 6, `native_${encoding}`),
    });
    const promptId = queued.data.prompt_id as string;
    expect(promptId).toMatch(/^[0-9a-f-]{36}$/);
    const executed = await client.next((f) => f.type === 'executed' && f.data.prompt_id === promptId);
    await client.next((f) => f.type === 'execution_success' && f.data.prompt_id === promptId);
    const image = executed.data.output.images[0];

    const file = await client.request('get_output', {
      filename: image.filename,
      subfolder: image.subfolder,
      type: image.type,
    });
    expect(file.data.mime).toBe('image/png');
    expect(file.data.bytes).toBeInstanceOf(Uint8Array);
    const meta = await sharp(Buffer.from(file.data.bytes)).metadata();
    expect([meta.width, meta.height]).toEqual([8, 6]);

    const tensor = await client.request('get_output', {
      filename: image.filename,
      type: 'output',
      as: 'tensor',
    });
    expect(tensor.data.tensor.dtype).toBe('float32');
    expect(tensor.data.tensor.shape).toEqual([6, 8, 3]);
    const bytes: Uint8Array = tensor.data.tensor.data;
    expect(bytes.byteLength).toBe(6 * 8 * 3 * 4);
    const values = new Float32Array(Uint8Array.from(bytes).buffer);
    expect(Math.min(...values)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...values)).toBeLessThanOrEqual(1);

    const history = await client.request('history', { prompt_id: promptId });
    expect(history.data[promptId].status.status_str).toBe('success');
    const queue = await client.request('queue');
    expect(queue.data).toEqual({ queue_running: [], queue_pending: [] });
  });

  it('forwards previews as preview events carrying raw image bytes', async () => {
    const queued = await client.request('queue_prompt', {
      prompt: { '1': { class_type: 'TestPreview', inputs: { steps: 2 } } },
    });
    await client.next((f) => f.type === 'execution_success' && f.data.prompt_id === queued.data.prompt_id);
    const previews = client.frames.filter((f) => f.type === 'preview');
    expect(previews).toHaveLength(2);
    expect(previews[0].data).toMatchObject({ event_type: 1, format: 'png' });
    expect(previews[0].data.image).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(previews[0].data.image).subarray(1, 4).toString()).toBe('PNG');
  });

  it('interrupts a running prompt', async () => {
    const queued = await client.request('queue_prompt', { prompt: sleepPrompt(20_000, 400) });
    const promptId = queued.data.prompt_id;
    await client.next((f) => f.type === 'progress' && f.data.prompt_id === promptId);
    const reply = await client.request('interrupt', { prompt_id: promptId });
    expect(reply.type).toBe('interrupt');
    const interrupted = await client.next(
      (f) => f.type === 'execution_interrupted' && f.data.prompt_id === promptId,
    );
    expect(interrupted.data.node_id).toBe('2');
  });

  it('answers an invalid request with an error naming the JSON pointer and reason, then keeps serving', async () => {
    const bad = await client.request('queue_prompt', { prompt: { '1': { inputs: {} } } });
    expect(bad.type).toBe('error');
    expect(bad.data).toMatchObject({
      code: 'invalid_message',
      pointer: '/data/prompt/1/class_type',
      reason: 'is required',
    });
    const extra = await client.request('queue', { nope: 1 });
    expect(extra.data).toMatchObject({ pointer: '/data/nope', reason: 'is not allowed here' });
    const wrongBytes = await client.request('upload', { filename: 'x.png', bytes: 'not bytes' });
    expect(wrongBytes.data).toMatchObject({
      pointer: '/data/bytes',
      reason: expect.stringMatching(/^must be bytes \(msgpack bin; in JSON \{"\$bytes": "<base64>"\}\)/),
    });
    const unknownType = await client.request('launch_missiles', {});
    expect(unknownType.data).toMatchObject({ pointer: '/type', code: 'invalid_message' });
    expect((await client.request('queue')).type).toBe('queue');
  });

  it('reports engine validation failures with ComfyUI error details', async () => {
    const reply = await client.request('queue_prompt', {
      prompt: { '1': { class_type: 'NoSuchNode', inputs: {} } },
    });
    expect(reply.type).toBe('error');
    expect(reply.data.code).toBe('request_failed');
    expect(reply.data.reason).toBe('missing_node_type');
    expect(reply.data.details.error.type).toBe('missing_node_type');
  });

  it('refuses path escapes in upload and get_output', async () => {
    const up = await client.request('upload', {
      filename: 'a.png',
      bytes: new Uint8Array([1]),
      subfolder: '../..',
    });
    expect(up.data).toMatchObject({ code: 'request_failed', reason: 'path_escape' });
    const down = await client.request('get_output', { filename: 'x.png', subfolder: '../../..' });
    expect(down.data).toMatchObject({ code: 'forbidden', reason: 'path_escape' });
    const dotted = await client.request('get_output', { filename: '../secret' });
    expect(dotted.data).toMatchObject({ code: 'request_failed', reason: 'invalid_filename' });
  });

  it('an unexpected failure names no server path (the full error goes to the log)', async () => {
    // A subfolder that is a plain file: the OS error names the absolute path of input/.
    await writeFile(join(server.dataDir, 'input', `plain-file-${encoding}`), 'x');
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const reply = await client.request('upload', {
        filename: 'a.png',
        bytes: new Uint8Array([1]),
        subfolder: `plain-file-${encoding}`,
      });
      expect(reply.type).toBe('error');
      expect(reply.data.reason).toBe('internal_error');
      expect(reply.data.message).not.toContain(server.dataDir);
      expect(errors.mock.calls.flat().join(' ')).toContain(server.dataDir);
    } finally {
      errors.mockRestore();
    }
  });
});

describe('native protocol negotiation and routing', () => {
  it('switches to msgpack after a hello sent as JSON without a subprotocol', async () => {
    const client = await NativeClient.open(nativeUrl(), 'json', null);
    expect(client.ws.protocol).toBe('');
    const hello = await client.request('hello', { encoding: 'msgpack' });
    expect(hello.data.encoding).toBe('msgpack');
    client.encoding = 'msgpack';
    const queue = await client.request('queue');
    expect(queue.type).toBe('queue');
    client.close();
  });

  it('sends a prompt only to its submitter unless another connection subscribes to all prompts', async () => {
    const submitter = await NativeClient.open(nativeUrl(), 'msgpack');
    const bystander = await NativeClient.open(nativeUrl(), 'json');
    const monitor = await NativeClient.open(nativeUrl(), 'json');
    const sub = await monitor.request('subscribe', {
      all_prompts: true,
      events: ['execution_success', 'status'],
    });
    expect(sub.data).toEqual({ all_prompts: true, events: ['execution_success', 'status'] });
    const { data } = await submitter.request('queue_prompt', { prompt: sleepPrompt(20, 2) });
    await submitter.next((f) => f.type === 'execution_success' && f.data.prompt_id === data.prompt_id);
    await monitor.next((f) => f.type === 'execution_success' && f.data.prompt_id === data.prompt_id);
    expect(monitor.frames.some((f) => f.type === 'executing')).toBe(false);
    await bystander.next((f) => f.type === 'status');
    expect(bystander.frames.some((f) => f.type === 'execution_start')).toBe(false);
    for (const c of [submitter, bystander, monitor]) c.close();
  });
});
