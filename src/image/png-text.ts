import { crc32 } from 'node:zlib';

/**
 * PNG text chunks (how ComfyUI embeds `prompt` and `workflow` in saved images).
 * Writing: one `tEXt` chunk per entry (Latin-1; text with other characters goes to an uncompressed
 * `iTXt`), inserted before the first IDAT. Reading: `tEXt`, uncompressed `iTXt` and ComfyUI's custom
 * `comf` chunk, as the ComfyUI front end reads them. Re-encoding an image keeps its metadata with
 * `rawTextChunks` + `insertPngChunks`.
 */

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

export interface PngChunk {
  type: string;
  data: Buffer;
  /** The whole chunk as stored: length, type, data, CRC. */
  raw: Buffer;
}

const TEXT_CHUNK_TYPES = new Set(['tEXt', 'iTXt', 'zTXt']);

export function isPng(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && Buffer.from(bytes.buffer, bytes.byteOffset, 8).equals(SIGNATURE);
}

export function parsePngChunks(bytes: Uint8Array): PngChunk[] {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (!isPng(buf)) throw new Error('not a PNG file (bad signature)');
  const chunks: PngChunk[] = [];
  let pos = 8;
  while (pos + 12 <= buf.length) {
    const length = buf.readUInt32BE(pos);
    const type = buf.toString('latin1', pos + 4, pos + 8);
    const end = pos + 12 + length;
    if (end > buf.length) throw new Error(`truncated PNG chunk '${type}'`);
    chunks.push({ type, data: buf.subarray(pos + 8, pos + 8 + length), raw: buf.subarray(pos, end) });
    pos = end;
    if (type === 'IEND') break;
  }
  return chunks;
}

export function encodePngChunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const body = Buffer.concat([head.subarray(4), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body) >>> 0, 0);
  return Buffer.concat([head.subarray(0, 4), body, crc]);
}

function isLatin1(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0xff) return false;
  return true;
}

/** One encoded text chunk: `tEXt` when the text is Latin-1, else an uncompressed UTF-8 `iTXt`. */
export function pngTextChunk(keyword: string, text: string): Buffer {
  if (!/^[\x20-\x7e\xa1-\xff]{1,79}$/.test(keyword) || keyword.startsWith(' ') || keyword.endsWith(' ')) {
    throw new Error(`invalid PNG text keyword '${keyword}'`);
  }
  if (isLatin1(text)) {
    return encodePngChunk(
      'tEXt',
      Buffer.concat([Buffer.from(keyword, 'latin1'), Buffer.of(0), Buffer.from(text, 'latin1')]),
    );
  }
  // keyword \0 compression-flag(0) compression-method(0) language \0 translated-keyword \0 text(utf8)
  return encodePngChunk(
    'iTXt',
    Buffer.concat([Buffer.from(keyword, 'latin1'), Buffer.of(0, 0, 0, 0, 0), Buffer.from(text, 'utf8')]),
  );
}

/** Returns a copy of `png` with `extra` (encoded chunks) placed before the first IDAT. */
export function insertPngChunks(png: Uint8Array, extra: readonly Buffer[]): Buffer {
  const parts: Buffer[] = [SIGNATURE];
  let inserted = false;
  for (const chunk of parsePngChunks(png)) {
    if (!inserted && (chunk.type === 'IDAT' || chunk.type === 'IEND')) {
      parts.push(...extra);
      inserted = true;
    }
    parts.push(chunk.raw);
  }
  return Buffer.concat(parts);
}

/** Returns a copy of `png` with one text chunk per entry, placed before the first IDAT. */
export function addPngText(png: Uint8Array, entries: Record<string, string>): Buffer {
  return insertPngChunks(
    png,
    Object.entries(entries).map(([k, v]) => pngTextChunk(k, v)),
  );
}

/**
 * The text chunks (`tEXt`, `iTXt`, `zTXt`) of a PNG exactly as stored, e.g. to carry `prompt` and
 * `workflow` over a re-encode; [] for anything that is not a readable PNG.
 */
export function rawTextChunks(png: Uint8Array): Buffer[] {
  let chunks: PngChunk[];
  try {
    chunks = parsePngChunks(png);
  } catch {
    return [];
  }
  return chunks.filter((c) => TEXT_CHUNK_TYPES.has(c.type)).map((c) => c.raw);
}

/** All text entries of a PNG (`tEXt`, uncompressed `iTXt`, `comf`), keyword → text. Later chunks win. */
export function readPngText(png: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {};
  for (const { type, data } of parsePngChunks(png)) {
    if (type !== 'tEXt' && type !== 'iTXt' && type !== 'comf') continue;
    const nul = data.indexOf(0);
    if (nul <= 0) continue;
    const keyword = data.toString('latin1', 0, nul);
    if (type === 'tEXt') {
      out[keyword] = data.toString('latin1', nul + 1);
    } else if (type === 'comf') {
      out[keyword] = data.toString('utf8', nul + 1);
    } else {
      const compressed = data[nul + 1];
      if (compressed !== 0) continue;
      const langEnd = data.indexOf(0, nul + 3);
      if (langEnd < 0) continue;
      const transEnd = data.indexOf(0, langEnd + 1);
      if (transEnd < 0) continue;
      out[keyword] = data.toString('utf8', transEnd + 1);
    }
  }
  return out;
}
