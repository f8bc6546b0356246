/**
 * Issue #9 item 8: each bad frame is answered with the most specific true reason (not ajv's first
 * anyOf branch, not a schema error for bytes that are not msgpack/JSON), over a real /native socket in
 * both encodings, and the connection keeps serving after every error.
 */
import { Packr } from 'msgpackr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers.js';
import { type Frame, NativeClient } from './native-client.js';

const packr = new Packr({ useRecords: false });
const ID_RULE = 'must be a string of 1 to 128 characters or an integer from 0 to 9007199254740991';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.dispose();
});

async function open(encoding: 'json' | 'msgpack'): Promise<NativeClient> {
  const client = await NativeClient.open(`${server.url.replace('http', 'ws')}/native`, encoding);
  // No events on this connection: every frame it receives answers the frame just sent.
  expect((await client.request('subscribe', { events: [] })).type).toBe('subscribe');
  return client;
}

/** Sends one frame (a value in the connection's encoding, or raw text/bytes) and returns the answer. */
async function answer(client: NativeClient, frame: unknown, raw = false): Promise<Frame> {
  const before = client.frames.length;
  if (raw) client.ws.send(frame as string | Buffer);
  else client.sendRaw(frame);
  await client.next(() => client.frames.length > before);
  const reply = client.frames[before];
  // The connection keeps serving after the error.
  expect((await client.request('queue')).type).toBe('queue');
  return reply;
}

describe.each(['json', 'msgpack'] as const)('native error reasons over %s frames', (encoding) => {
  let client: NativeClient;
  beforeAll(async () => {
    client = await open(encoding);
  });
  afterAll(() => client?.close());

  it.each([
    ['-1', -1, '-1'],
    ['1.5', 1.5, '1.5'],
    ['empty', '', 'a string of 0 characters'],
    ['129 characters long', 'x'.repeat(129), 'a string of 129 characters'],
    ['null', null, 'null'],
    ['an object', { a: 1 }, 'an object'],
  ])('says what an id may be when it is %s', async (_, id, got) => {
    const reply = await answer(client, { type: 'queue', id });
    expect(reply).toEqual({
      type: 'error',
      data: {
        code: 'invalid_message',
        pointer: '/id',
        reason: `${ID_RULE} (got ${got})`,
        message: `/id ${ID_RULE} (got ${got})`,
      },
    });
  });

  it('names the expected and the actual kind for type errors', async () => {
    expect((await answer(client, ['queue'])).data).toMatchObject({
      pointer: '',
      reason: 'must be an object (got an array)',
      message: 'frame must be an object (got an array)',
    });
    expect((await answer(client, { type: 'queue', data: 'x' })).data).toMatchObject({
      pointer: '/data',
      reason: 'must be an object (got a string of 1 character)',
    });
    expect((await answer(client, { type: 'history', data: { max_items: 1.5 } })).data).toMatchObject({
      pointer: '/data/max_items',
      reason: 'must be an integer (got 1.5)',
    });
    expect((await answer(client, { type: 'history', data: { max_items: 0 } })).data).toMatchObject({
      pointer: '/data/max_items',
      reason: 'must be >= 1 (got 0)',
    });
    expect((await answer(client, { type: 'get_output', data: { filename: '' } })).data).toMatchObject({
      pointer: '/data/filename',
      reason: 'must not be empty',
    });
    expect((await answer(client, { type: 'hello', data: { protocol: 'cones.v2' } })).data).toMatchObject({
      pointer: '/data/protocol',
      reason: 'must be "cones.v1"',
    });
  });

  it('says how bytes are written when a value is not bytes', async () => {
    const reply = await answer(client, { type: 'upload', id: 7, data: { filename: 'a.png', bytes: 'AAAA' } });
    expect(reply).toMatchObject({ type: 'error', id: 7 });
    expect(reply.data).toMatchObject({
      pointer: '/data/bytes',
      reason: 'must be bytes (msgpack bin; in JSON {"$bytes": "<base64>"}), not a string of 4 characters',
    });
  });
});

describe('frames that are not valid JSON or msgpack', () => {
  it.each([
    ['byte 0xc1 alone', [0xc1], '', 'is not valid msgpack: byte 0xc1 (never used) at the top level'],
    [
      'byte 0xc1 as a map value',
      [0x81, 0xa4, ...Buffer.from('type'), 0xc1],
      '/type',
      'is not valid msgpack: byte 0xc1 (never used) at /type',
    ],
    ['byte 0xc1 in an array', [0x92, 0xc1, 0x01], '/0', 'is not valid msgpack: byte 0xc1 (never used) at /0'],
    [
      'a truncated map',
      [...packr.pack({ type: 'queue', id: 1 }).subarray(0, 6)],
      '',
      'is not valid msgpack: it is truncated (it ends inside a value)',
    ],
    [
      'text bytes',
      [...Buffer.from('hello world')],
      '',
      'is not valid msgpack: bytes follow the end of its first value (a frame is exactly one msgpack value)',
    ],
    [
      'an unknown extension',
      [0xd4, 0x05, 0x01],
      '',
      'uses msgpack extension type 5, which this protocol does not use',
    ],
    ['an empty frame', [], '', 'is not valid msgpack: the frame is empty'],
  ])('a binary frame holding %s is reported as such (both encodings)', async (_, bytes, pointer, reason) => {
    for (const encoding of ['json', 'msgpack'] as const) {
      const client = await open(encoding);
      const reply = await answer(client, Buffer.from(bytes), true);
      expect(reply).toEqual({
        type: 'error',
        data: { code: 'invalid_frame', pointer, reason, message: `frame ${reason}` },
      });
      client.close();
    }
  });

  it('refuses msgpack extension values (a timestamp id) with their location', async () => {
    const client = await open('msgpack');
    const reply = await answer(client, { type: 'queue', id: new Date(0) });
    expect(reply.data).toMatchObject({
      code: 'invalid_frame',
      pointer: '/id',
      reason: 'holds a msgpack extension value (Date) at /id; this protocol uses plain msgpack types only',
    });
    // NaN is plain msgpack (a float): the schema speaks.
    expect((await answer(client, { type: 'queue', id: Number.NaN })).data).toMatchObject({
      code: 'invalid_message',
      reason: `${ID_RULE} (got NaN)`,
    });
    client.close();
  });

  it.each([
    ['an unclosed object', '{', /^is not valid JSON: /],
    ['two values', '{"type":"queue"}{', /^is not valid JSON: .*after JSON/],
    ['nothing', '', /^is not valid JSON: the frame is empty$/],
    ['20,000 nested arrays', `${'['.repeat(20_000)}${']'.repeat(20_000)}`, /^is nested too deeply$/],
  ])('a text frame holding %s is reported as such (both encodings)', async (_, text, reason) => {
    for (const encoding of ['json', 'msgpack'] as const) {
      const client = await open(encoding);
      const reply = await answer(client, text, true);
      expect(reply.data).toMatchObject({
        code: 'invalid_frame',
        pointer: '',
        reason: expect.stringMatching(reason),
      });
      expect(reply.data.message).toBe(`frame ${reply.data.reason}`);
      client.close();
    }
  });

  it('reports a malformed {"$bytes"} value in JSON as not base64', async () => {
    const client = await open('json');
    const reply = await answer(
      client,
      JSON.stringify({ type: 'upload', data: { filename: 'a.png', bytes: { $bytes: '***' } } }),
      true,
    );
    expect(reply.data).toMatchObject({
      pointer: '/data/bytes',
      reason: 'must be bytes: its "$bytes" text is not base64',
    });
    client.close();
  });
});
