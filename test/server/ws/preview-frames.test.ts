import { describe, expect, it } from 'vitest';
import {
  binaryFrame,
  decodePreview,
  withMetadata,
  withoutMetadata,
} from '../../../src/server/ws/preview-frames.js';

const jpeg = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]);

describe('preview frames', () => {
  it('frames a payload as [u32 BE type][payload]', () => {
    const frame = binaryFrame(3, new Uint8Array([9, 8]));
    expect([...frame]).toEqual([0, 0, 0, 3, 9, 8]);
  });

  it('turns event 1 plus its origin into event 4 and back', () => {
    const payload = Buffer.concat([Buffer.from([0, 0, 0, 1]), jpeg]);
    const preview = decodePreview(1, payload)!;
    expect(preview.format).toBe('jpeg');
    const four = withMetadata(preview, { prompt_id: 'p', node_id: '5' });
    expect(four.readUInt32BE(0)).toBe(4);
    const decoded = decodePreview(4, four.subarray(4))!;
    expect(decoded.metadata).toEqual({ prompt_id: 'p', node_id: '5', image_type: 'image/jpeg' });
    expect(Buffer.from(decoded.image).equals(jpeg)).toBe(true);
    const one = withoutMetadata(decoded);
    expect(one.equals(binaryFrame(1, payload))).toBe(true);
  });

  it('rejects truncated or unknown payloads', () => {
    expect(decodePreview(1, new Uint8Array([0, 0]))).toBeNull();
    expect(decodePreview(4, new Uint8Array([0, 0, 0, 99, 1]))).toBeNull();
    expect(decodePreview(3, new Uint8Array([0, 0, 0, 1]))).toBeNull();
  });
});
