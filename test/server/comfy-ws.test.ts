import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, RecordingSocket, sleepPrompt, startTestServer, type TestServer } from './helpers.js';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.dispose();
});

const wsUrl = (clientId?: string) =>
  `${server.url.replace('http', 'ws')}/ws${clientId ? `?clientId=${clientId}` : ''}`;

async function queue(prompt: unknown, clientId: string) {
  const res = await fetch(`${server.url}/prompt`, {
    method: 'POST',
    body: JSON.stringify({ prompt, client_id: clientId }),
  });
  expect(res.status).toBe(200);
  return (await json(res)).prompt_id as string;
}

describe('ComfyUI /ws', () => {
  it('greets with status carrying the client id as sid, or a generated one', async () => {
    const named = await RecordingSocket.open(wsUrl('client-a'));
    const first = await named.next(() => true);
    expect(first).toEqual({
      type: 'status',
      data: { status: { exec_info: { queue_remaining: 0 } }, sid: 'client-a' },
    });
    const anonymous = await RecordingSocket.open(wsUrl());
    const greeting = await anonymous.next(() => true);
    expect(greeting.data.sid).toMatch(/^[0-9a-f]{32}$/);
    named.close();
    anonymous.close();
  });

  it('answers the feature_flags message with the server flags', async () => {
    const socket = await RecordingSocket.open(wsUrl('flags'));
    socket.ws.send(JSON.stringify({ type: 'feature_flags', data: { supports_preview_metadata: true } }));
    const reply = await socket.next((m) => m.type === 'feature_flags');
    expect(reply.data).toMatchObject({
      supports_preview_metadata: true,
      max_upload_size: expect.any(Number),
    });
    socket.close();
  });

  it("sends a prompt's execution events in ComfyUI order to its client only, status to everyone", async () => {
    const owner = await RecordingSocket.open(wsUrl('owner'));
    const bystander = await RecordingSocket.open(wsUrl('bystander'));
    const promptId = await queue(sleepPrompt(60, 3), 'owner');
    await owner.next((m) => m.type === 'executing' && m.data.node === null && m.data.prompt_id === promptId);
    const types = owner
      .json()
      .filter((m) => m.type !== 'status' || m.data.sid === undefined)
      .map((m) => (m.type === 'executing' ? `executing:${m.data.node}` : m.type));
    const order = (t: string) => types.indexOf(t);
    expect(order('execution_start')).toBeLessThan(order('execution_cached'));
    expect(order('execution_cached')).toBeLessThan(order('executing:2'));
    expect(order('executing:2')).toBeLessThan(order('progress'));
    expect(order('executed')).toBeLessThan(order('execution_success'));
    expect(types.at(-1)).toBe('executing:null');
    expect(types.at(-2)).toBe('status');
    const progress = owner.json().filter((m) => m.type === 'progress');
    expect(progress.map((m) => m.data.value)).toEqual([1, 2, 3]);
    expect(progress[0].data).toMatchObject({ max: 3, prompt_id: promptId, node: '2' });
    const executed = await owner.next((m) => m.type === 'executed');
    expect(executed.data).toMatchObject({ node: '3', output: { text: ['7'] }, prompt_id: promptId });

    // The bystander saw the queue change (broadcast status) but none of the prompt's events.
    await bystander.next((m) => m.type === 'status' && m.data.status.exec_info.queue_remaining === 1);
    expect(bystander.json().every((m) => m.type === 'status')).toBe(true);
    owner.close();
    bystander.close();
  });

  it('keeps routing to a client id after it reconnects with the same id', async () => {
    const first = await RecordingSocket.open(wsUrl('returning'));
    await first.next((m) => m.type === 'status');
    first.close();
    await new Promise((r) => first.ws.once('close', r));
    const second = await RecordingSocket.open(wsUrl('returning'));
    const promptId = await queue(sleepPrompt(10, 1), 'returning');
    const success = await second.next((m) => m.type === 'execution_success');
    expect(success.data.prompt_id).toBe(promptId);
    second.close();
  });

  it('tells a client reconnecting mid-prompt which of its nodes is running', async () => {
    const first = await RecordingSocket.open(wsUrl('midway'));
    const promptId = await queue(sleepPrompt(3000, 60), 'midway');
    await first.next((m) => m.type === 'progress' && m.data.prompt_id === promptId);
    first.close();
    const second = await RecordingSocket.open(wsUrl('midway'));
    await second.next((m) => m.type === 'executing');
    const greeting = second.json().slice(0, 2);
    expect(greeting.map((m) => m.type)).toEqual(['status', 'executing']);
    expect(greeting[1].data).toEqual({ node: '2' });
    await fetch(`${server.url}/interrupt`, { method: 'POST' });
    await second.next((m) => m.type === 'execution_interrupted');
    second.close();
  });

  it('routes to the newest socket when an id connects twice, and the old one closing does not unroute it', async () => {
    const old = await RecordingSocket.open(wsUrl('twice'));
    const fresh = await RecordingSocket.open(wsUrl('twice'));
    old.close();
    await new Promise((r) => old.ws.once('close', r));
    const promptId = await queue(sleepPrompt(10, 1), 'twice');
    expect((await fresh.next((m) => m.type === 'execution_success')).data.prompt_id).toBe(promptId);
    expect(old.json().some((m) => m.type === 'execution_start')).toBe(false);
    fresh.close();
  });

  it('ignores garbage from clients and keeps serving the socket', async () => {
    const socket = await RecordingSocket.open(wsUrl('garbage'));
    socket.ws.send('not json');
    socket.ws.send(Buffer.from([1, 2, 3]));
    socket.ws.send(JSON.stringify({ type: 'feature_flags', data: {} }));
    const promptId = await queue(sleepPrompt(10, 1), 'garbage');
    expect((await socket.next((m) => m.type === 'execution_success')).data.prompt_id).toBe(promptId);
    socket.close();
  });

  it('sends previews as binary frames [u32 BE 1][u32 BE 2 = PNG][png bytes] to the submitting client', async () => {
    const socket = await RecordingSocket.open(wsUrl('previews'));
    const promptId = await queue({ '1': { class_type: 'TestPreview', inputs: { steps: 3 } } }, 'previews');
    await socket.next((m) => m.type === 'execution_success' && m.data.prompt_id === promptId);
    const frames = socket.messages.filter((m): m is { binary: Buffer } => 'binary' in m).map((m) => m.binary);
    expect(frames).toHaveLength(3);
    for (const frame of frames) {
      expect(frame.readUInt32BE(0)).toBe(1);
      expect(frame.readUInt32BE(4)).toBe(2);
      expect(frame.subarray(8, 16).toString('latin1')).toBe('\x89PNG\r\n\x1a\n');
    }
    socket.close();
  });
});
