import { crc32 } from 'node:zlib';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import {
  addPngText,
  encodePngChunk,
  insertPngChunks,
  parsePngChunks,
  rawTextChunks,
  readPngText,
} from '../../src/image/png-text.js';
import { pythonJsonDumps } from '../../src/image/py-json.js';

async function samplePng(): Promise<Buffer> {
  const px = Buffer.from([255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255]);
  return sharp(px, { raw: { width: 2, height: 2, channels: 3 } })
    .png()
    .toBuffer();
}

describe('PNG text chunks', () => {
  it('carries every text chunk (tEXt, iTXt, zTXt) byte for byte into a re-encoded image', async () => {
    const source = insertPngChunks(await samplePng(), [
      encodePngChunk('zTXt', Buffer.from('comment\0\0xyz', 'latin1')),
    ]);
    const withText = addPngText(source, { prompt: '{}', note: 'Grüße 🌍' });
    const carried = rawTextChunks(withText);
    expect(carried.map((c) => c.toString('latin1', 4, 8))).toEqual(['zTXt', 'tEXt', 'iTXt']);
    const reencoded = insertPngChunks(await samplePng(), carried);
    expect(rawTextChunks(reencoded)).toEqual(carried);
    expect(readPngText(reencoded)).toEqual({ prompt: '{}', note: 'Grüße 🌍' });
  });

  it('finds no text chunks in a file that is not a readable PNG', () => {
    expect(rawTextChunks(Buffer.from('not a png at all'))).toEqual([]);
  });

  it('round-trips tEXt and iTXt entries placed before IDAT', async () => {
    const png = await samplePng();
    const entries = {
      prompt: '{"1": {"class_type": "SaveImage"}}',
      workflow: '{"a": "caf\\u00e9"}',
      note: 'Grüße 🌍',
    };
    const out = addPngText(png, entries);
    expect(readPngText(out)).toEqual(entries);
    const chunks = parsePngChunks(out);
    const types = chunks.map((c) => c.type);
    expect(types.indexOf('tEXt')).toBeLessThan(types.indexOf('IDAT'));
    expect(types.filter((t) => t === 'tEXt')).toHaveLength(2);
    expect(types.filter((t) => t === 'iTXt')).toHaveLength(1); // the text beyond Latin-1
  });

  it('writes valid CRCs and stays readable by a real decoder (libvips/libpng via sharp)', async () => {
    const png = await samplePng();
    const out = addPngText(png, {
      prompt: pythonJsonDumps({ '1': { inputs: { text: 'ü' } } }),
      workflow: '{}',
    });
    let pos = 8;
    while (pos < out.length) {
      const length = out.readUInt32BE(pos);
      const body = out.subarray(pos + 4, pos + 8 + length);
      expect(out.readUInt32BE(pos + 8 + length)).toBe(crc32(body) >>> 0);
      pos += 12 + length;
    }
    const meta = await sharp(out).metadata();
    expect(meta.comments).toEqual([
      { keyword: 'prompt', text: '{"1": {"inputs": {"text": "\\u00fc"}}}' },
      { keyword: 'workflow', text: '{}' },
    ]);
    const [a, b] = await Promise.all([sharp(png).raw().toBuffer(), sharp(out).raw().toBuffer()]);
    expect(b.equals(a)).toBe(true);
  });

  it('rejects non-PNG input and bad keywords', async () => {
    expect(() => readPngText(Buffer.from('GIF89a'))).toThrow(/not a PNG/);
    await expect(samplePng().then((p) => addPngText(p, { '': 'x' }))).rejects.toThrow(/keyword/);
  });
});

describe('pythonJsonDumps', () => {
  it('matches Python json.dumps defaults (separators, ASCII escapes)', () => {
    expect(pythonJsonDumps({ a: [1, 2.5, true, null], 'b"': 'é\n\u2028', c: {} })).toBe(
      '{"a": [1, 2.5, true, null], "b\\"": "\\u00e9\\n\\u2028", "c": {}}',
    );
    expect(JSON.parse(pythonJsonDumps({ x: 'ü😀' }))).toEqual({ x: 'ü😀' });
  });
});
