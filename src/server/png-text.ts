import { crc32 } from 'node:zlib';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const TEXT_TYPES = new Set(['tEXt', 'iTXt', 'zTXt']);

interface Chunk {
  type: string;
  /** The whole chunk: length, type, data, CRC. */
  raw: Buffer;
}

function chunks(png: Buffer): Chunk[] | null {
  if (png.length < 8 || !png.subarray(0, 8).equals(SIGNATURE)) return null;
  const out: Chunk[] = [];
  let offset = 8;
  while (offset + 12 <= png.length) {
    const length = png.readUInt32BE(offset);
    const end = offset + 12 + length;
    if (end > png.length) return null;
    out.push({ type: png.toString('latin1', offset + 4, offset + 8), raw: png.subarray(offset, end) });
    offset = end;
  }
  return out;
}

/** The text chunks (tEXt/iTXt/zTXt) of a PNG, e.g. the embedded `prompt` and `workflow`. */
export function textChunks(png: Buffer): Buffer[] {
  return (chunks(png) ?? []).filter((c) => TEXT_TYPES.has(c.type)).map((c) => c.raw);
}

/** Inserts raw chunks before the first IDAT (keeps a PNG's workflow metadata across a re-encode). */
export function withTextChunks(png: Buffer, extra: Buffer[]): Buffer {
  const list = chunks(png);
  if (!list || extra.length === 0) return png;
  const at = list.findIndex((c) => c.type === 'IDAT');
  if (at < 0) return png;
  return Buffer.concat([
    SIGNATURE,
    ...list.slice(0, at).map((c) => c.raw),
    ...extra,
    ...list.slice(at).map((c) => c.raw),
  ]);
}

/** Builds a tEXt chunk (Latin-1 keyword and text). */
export function tEXtChunk(keyword: string, text: string): Buffer {
  const data = Buffer.concat([Buffer.from(keyword, 'latin1'), Buffer.from([0]), Buffer.from(text, 'latin1')]);
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write('tEXt', 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])) >>> 0, 0);
  return Buffer.concat([head, data, crc]);
}
