import { Packr } from 'msgpackr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, RecordingSocket, sleepPrompt, startTestServer, type TestServer } from '../helpers.js';
import { NativeClient } from './native-client.js';

const packr = new Packr({ useRecords: false });

/** Deterministic PRNG (mulberry32) so a failing frame can be reproduced from the seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const VALID_TYPES = [
  'hello',
  'object_info',
  'queue_prompt',
  'interrupt',
  'queue',
  'history',
  'upload',
  'get_output',
  'subscribe',
];

/** Frames that are bad by construction: each must be answered by exactly one `error`. */
function badFrames(
  random: () => number,
  encoding: 'json' | 'msgpack',
  count: number,
): Array<string | Buffer> {
  const pick = <T>(items: T[]): T => items[Math.floor(random() * items.length)];
  const randomValue = (depth = 0): unknown => {
    const r = random();
    if (depth > 3 || r < 0.2) return Math.floor(random() * 1e6) - 5e5;
    if (r < 0.35) return random().toString(36);
    if (r < 0.45) return null;
    if (r < 0.55) return random() < 0.5;
    if (r < 0.75) return Array.from({ length: Math.floor(random() * 4) }, () => randomValue(depth + 1));
    return Object.fromEntries(
      Array.from({ length: Math.floor(random() * 4) }, () => [
        random().toString(36).slice(2, 6),
        randomValue(depth + 1),
      ]),
    );
  };
  const invalidMessages: Array<() => unknown> = [
    () => randomValue(),
    () => [pick(VALID_TYPES), randomValue()],
    () => ({ type: `${pick(VALID_TYPES)}_${Math.floor(random() * 99)}`, data: {} }),
    () => ({ type: pick(VALID_TYPES), data: randomValue(), extra: 1 }),
    () => ({ type: pick(VALID_TYPES), id: pick([-1, 1.5, '', { a: 1 }, [1], true]) }),
    () => ({ type: pick(VALID_TYPES), data: pick([1, 'x', [1, 2], true]) }),
    () => ({
      type: 'queue_prompt',
      data: { prompt: pick([{}, [], 'x', { 1: { inputs: {} } }, { 1: { class_type: 3, inputs: {} } }]) },
    }),
    () => ({
      type: 'upload',
      id: Math.floor(random() * 1e6),
      data: { filename: 'a.png', bytes: pick(['AAAA', 12, [1, 2], null]) },
    }),
    () => ({ type: 'history', data: { max_items: pick([0, -3, 1.5, 'ten']) } }),
    () => ({ type: 'hello', data: { encoding: pick(['xml', 'cbor', 7]), client_id: 'ok' } }),
    () => ({ type: 'subscribe', data: { events: pick(['status', [1], Array(100).fill('x')]) } }),
    () => ({ type: 'get_output', data: { filename: pick(['', 5, null]) } }),
    () => ({ data: { type: 'queue' } }),
  ];
  const encode = (value: unknown) => (encoding === 'msgpack' ? packr.pack(value) : JSON.stringify(value));
  const frames: Array<string | Buffer> = [];
  for (let i = 0; i < count; i++) {
    const r = random();
    if (r < 0.15) {
      // Random bytes: msgpack garbage (or, over JSON, a binary frame that is not msgpack).
      const bytes = Buffer.alloc(1 + Math.floor(random() * 64));
      for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(random() * 256);
      bytes[0] = pick([0xc1, 0xc7, 0xd4, 0xdb, 0xdf, 0x92, 0x81, 0xa3]); // never-valid or truncated-container lead bytes
      if ((bytes[0] === 0x92 || bytes[0] === 0x81) && bytes.length > 1) bytes[1] = 0xc1;
      frames.push(bytes);
    } else if (r < 0.3) {
      // Truncated valid request: never decodes.
      const whole = encode({ type: pick(VALID_TYPES), id: i, data: { prompt_id: 'x'.repeat(20) } });
      const cut = 1 + Math.floor(random() * (whole.length - 2));
      frames.push(typeof whole === 'string' ? whole.slice(0, cut) : whole.subarray(0, cut));
    } else if (r < 0.4) {
      // Corrupted type string of a valid request (invalid UTF-8 or a wrong letter): decodes, fails the schema.
      const type = pick(VALID_TYPES);
      const whole = encode({ type, id: i, data: {} });
      const buf = Buffer.from(whole);
      const at = buf.indexOf(type) + Math.floor(random() * type.length);
      buf[at] = typeof whole === 'string' ? 0x5a : 0xff;
      frames.push(typeof whole === 'string' ? buf.toString('latin1') : buf);
    } else if (r < 0.45) {
      frames.push(
        pick([
          '',
          '{',
          'null',
          '[]',
          '"hello"',
          '{"type":',
          '{"type":"queue",}',
          '\u0000',
          '{"type":"queue"}{',
        ]),
      );
    } else {
      frames.push(encode(pick(invalidMessages)()));
    }
  }
  return frames;
}

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.dispose();
});

describe('native protocol fuzzing', () => {
  it('answers each of 12,000 corrupted or invalid frames with an error and keeps serving everyone', async () => {
    const nativeUrl = `${server.url.replace('http', 'ws')}/native`;
    const bystander = await RecordingSocket.open(
      `${server.url.replace('http', 'ws')}/ws?clientId=fuzz-bystander`,
    );
    const queued = await json(
      fetch(`${server.url}/prompt`, {
        method: 'POST',
        body: JSON.stringify({ prompt: sleepPrompt(300, 10), client_id: 'fuzz-bystander' }),
      }),
    );

    for (const [seed, encoding] of [
      [1, 'json'],
      [2, 'msgpack'],
    ] as const) {
      const client = await NativeClient.open(nativeUrl, encoding);
      // No events on this connection, so every frame it receives is a reply.
      expect((await client.request('subscribe', { events: [] })).type).toBe('subscribe');
      client.frames.length = 0;
      const frames = badFrames(prng(seed), encoding, 6000);
      const batch = 500;
      for (let start = 0; start < frames.length; start += batch) {
        for (const frame of frames.slice(start, start + batch)) client.ws.send(frame);
        const expected = Math.min(start + batch, frames.length);
        await client.next(() => client.frames.length >= expected, 20_000);
      }
      expect(client.frames).toHaveLength(frames.length);
      const notErrors = client.frames.filter((f) => f.type !== 'error');
      expect(notErrors).toEqual([]);
      for (const f of client.frames) {
        expect(typeof f.data.pointer).toBe('string');
        expect(f.data.reason.length).toBeGreaterThan(0);
      }
      // The connection is still usable afterwards.
      expect((await client.request('queue')).type).toBe('queue');
      client.close();
    }

    // Another client's prompt ran to completion meanwhile.
    const done = await bystander.next(
      (m) => m.type === 'execution_success' && m.data.prompt_id === queued.prompt_id,
    );
    expect(done).toBeTruthy();
    bystander.close();
    expect((await fetch(`${server.url}/prompt`)).status).toBe(200);
  });
});
