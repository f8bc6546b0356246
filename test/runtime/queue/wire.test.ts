import { describe, expect, it } from 'vitest';
import {
  displayUrl,
  fingerprintOfQueue,
  modelQueueName,
  pack,
  unpack,
} from '../../../src/runtime/queue/wire.js';

describe('queue wire format', () => {
  it('keeps typed arrays, bytes and Maps as they were (msgpack, no base64)', () => {
    const preview = new Uint8Array([0xff, 0xd8, 0xff, 0xe0]);
    const frame = {
      type: 'progress',
      value: 1,
      max: 2,
      preview: { format: 'JPEG', bytes: preview },
      latent: new Float32Array([0.5, -1.25]),
      xi: new Map([['k', new Float64Array([1e-300])]]),
    };
    const bytes = pack(frame);
    // The JPEG bytes travel as themselves, not as text.
    expect(bytes.includes(Buffer.from(preview))).toBe(true);
    const back = unpack<typeof frame>(bytes);
    expect(back.preview.bytes).toBeInstanceOf(Uint8Array);
    expect([...back.preview.bytes]).toEqual([...preview]);
    expect(back.latent).toBeInstanceOf(Float32Array);
    expect([...back.latent]).toEqual([0.5, -1.25]);
    expect(back.xi.get('k')).toEqual(new Float64Array([1e-300]));
  });

  it('names model queues by fingerprint and reads the fingerprint back', () => {
    expect(fingerprintOfQueue(modelQueueName('ab12'))).toBe('ab12');
    expect(fingerprintOfQueue('cones-tasks')).toBeUndefined();
  });

  it('hides the credentials of a Redis URL in what it shows', () => {
    expect(displayUrl('redis://user:secret@10.0.0.5:6379/2')).toBe('redis://***@10.0.0.5:6379/2');
    expect(displayUrl('rediss://:secret@h:1')).toBe('rediss://***@h:1');
    expect(displayUrl('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
  });
});
