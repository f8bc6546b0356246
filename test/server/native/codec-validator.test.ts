import { describe, expect, it } from 'vitest';
import { decodeFrame, encodeFrame, FrameDecodeError } from '../../../src/server/native/codec.js';
import { NativeValidator } from '../../../src/server/native/validator.js';

const validator = new NativeValidator();

describe('codec', () => {
  it('round-trips bytes as msgpack bin and as {"$bytes": base64} in JSON', () => {
    const message = {
      type: 'upload',
      id: 1,
      data: { filename: 'a.png', bytes: new Uint8Array([0, 1, 254, 255]) },
    };
    const packed = encodeFrame(message, 'msgpack') as Buffer;
    expect(packed.includes(Buffer.from('AAH+/w=='))).toBe(false);
    expect(decodeFrame(packed, true)).toEqual({
      ...message,
      data: { ...message.data, bytes: expect.any(Uint8Array) },
    });
    const text = encodeFrame(message, 'json') as string;
    expect(JSON.parse(text).data.bytes).toEqual({ $bytes: 'AAH+/w==' });
    const back = decodeFrame(Buffer.from(text), false) as typeof message;
    expect([...back.data.bytes]).toEqual([0, 1, 254, 255]);
  });

  it('leaves malformed $bytes objects alone so the schema rejects them', () => {
    const frame = decodeFrame(Buffer.from('{"b":{"$bytes":"***"}}'), false) as { b: unknown };
    expect(frame.b).toEqual({ $bytes: '***' });
  });

  it('throws FrameDecodeError for invalid JSON and msgpack', () => {
    expect(() => decodeFrame(Buffer.from('{'), false)).toThrow(FrameDecodeError);
    expect(() => decodeFrame(Buffer.from([0x82, 0xa1]), true)).toThrow(FrameDecodeError);
  });
});

describe('NativeValidator', () => {
  it('accepts well-formed requests', () => {
    const ok = validator.validate({ type: 'history', id: 'h1', data: { max_items: 5 } });
    expect(ok).toEqual({ ok: true, message: { type: 'history', id: 'h1', data: { max_items: 5 } } });
    expect(validator.validate({ type: 'queue' }).ok).toBe(true);
  });

  it.each([
    [{ id: 1 }, '/type', 'is required'],
    [{ type: 'nope' }, '/type', 'must be one of'],
    [{ type: 'queue', extra: 1 }, '/extra', 'is not allowed here'],
    [{ type: 'queue', id: -1 }, '/id', 'must be a string of 1 to 128 characters or an integer from 0 to'],
    [{ type: 'history', data: { max_items: 0 } }, '/data/max_items', 'must be >= 1'],
    [{ type: 'upload', data: { filename: 'a', bytes: 'x' } }, '/data/bytes', 'must be bytes'],
    [
      { type: 'queue_prompt', data: { prompt: { 1: { class_type: 'A' } } } },
      '/data/prompt/1/inputs',
      'is required',
    ],
    [{ type: 'subscribe', data: { 'a/b': 1 } }, '/data/a~1b', 'is not allowed here'],
  ])('rejects %j at %s', (frame, pointer, reason) => {
    const result = validator.validate(frame);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.failure.pointer).toBe(pointer);
    expect(result.failure.reason).toContain(reason);
  });

  it('keeps a readable id for the error reply', () => {
    const result = validator.validate({ type: 'history', id: 42, data: { offset: -1 } });
    expect(result.ok === false && result.id).toBe(42);
  });
});
