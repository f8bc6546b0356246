/**
 * safetensors reader (SD1_SPEC §7.1). The header is validated in full on open; tensor data is read
 * lazily with positioned reads on an open file handle, one tensor (or one slice) at a time, so a
 * 4–7 GB checkpoint never sits in memory as one buffer.
 */
import { type FileHandle, open } from 'node:fs/promises';
import {
  bytesToF16Bits,
  bytesToF32,
  DTYPE_SIZE,
  type FloatDtype,
  isFloatDtype,
  isSafetensorsDtype,
  numel,
  type SafetensorsDtype,
} from './dtype.js';
import { CheckpointError } from './errors.js';

/** The reference implementation refuses larger headers; so do we (a guard against garbage sizes). */
export const MAX_HEADER_BYTES = 100_000_000;

export interface TensorInfo {
  readonly name: string;
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  /** Byte range inside the data buffer (which starts at 8 + header length); `end` exclusive. */
  readonly begin: number;
  readonly end: number;
}

export interface SafetensorsHeader {
  readonly tensors: ReadonlyMap<string, TensorInfo>;
  /** `__metadata__`: a flat string → string map ({} when absent). */
  readonly metadata: Readonly<Record<string, string>>;
}

/**
 * Parse and validate a header: JSON object, known dtypes, integer shapes, byte lengths that match
 * shape × dtype, and offsets that tile `[0, dataLength)` exactly (no gap, overlap, or overrun).
 */
export function parseSafetensorsHeader(json: string, dataLength: number, path?: string): SafetensorsHeader {
  const fail = (message: string): never => {
    throw new CheckpointError('corrupt', `invalid safetensors header: ${message}`, path);
  };
  if (!json.startsWith('{')) fail('it does not start with "{"');
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (error) {
    fail(`not valid JSON (${(error as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) fail('not a JSON object');

  const metadata: Record<string, string> = {};
  const tensors = new Map<string, TensorInfo>();
  for (const [name, entry] of Object.entries(parsed as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry))
        fail('__metadata__ is not an object');
      for (const [k, v] of Object.entries(entry as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`__metadata__["${k}"] is not a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    if (typeof entry !== 'object' || entry === null) fail(`tensor "${name}" is not an object`);
    const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
    if (!isSafetensorsDtype(dtype)) fail(`tensor "${name}" has unsupported dtype ${JSON.stringify(dtype)}`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail(`tensor "${name}" has an invalid shape ${JSON.stringify(shape)}`);
    }
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
      offsets[0] > offsets[1]
    ) {
      fail(`tensor "${name}" has invalid data_offsets ${JSON.stringify(offsets)}`);
    }
    const dims = shape as number[];
    const [begin, end] = offsets as [number, number];
    const expected = numel(dims) * DTYPE_SIZE[dtype as SafetensorsDtype];
    if (end - begin !== expected) {
      fail(
        `tensor "${name}" ${dtype}[${dims.join(', ')}] needs ${expected} bytes but data_offsets span ${end - begin}`,
      );
    }
    tensors.set(name, {
      name,
      dtype: dtype as SafetensorsDtype,
      shape: Object.freeze([...dims]),
      begin,
      end,
    });
  }

  const sorted = [...tensors.values()].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  for (const t of sorted) {
    if (t.begin < cursor)
      fail(`tensor "${t.name}" overlaps the previous tensor (offset ${t.begin} < ${cursor})`);
    if (t.begin > cursor)
      fail(`gap in the data buffer before tensor "${t.name}" (offset ${t.begin}, expected ${cursor})`);
    cursor = t.end;
  }
  if (cursor > dataLength) {
    throw new CheckpointError(
      'truncated',
      `file is truncated: the header describes ${cursor} bytes of tensor data but only ${dataLength} are present`,
      path,
    );
  }
  if (cursor < dataLength) {
    fail(`${dataLength - cursor} bytes after the last tensor (the header covers ${cursor} of ${dataLength})`);
  }
  return { tensors, metadata: Object.freeze(metadata) };
}

/** What the first bytes of a file say it is; used to refuse pickles with a useful message. */
export type SniffedFormat = 'safetensors' | 'torch-zip' | 'pickle' | 'gguf' | 'unknown';

export function sniffFormat(head: Uint8Array): SniffedFormat {
  // safetensors first: its first 8 bytes are a length that could by chance look like another magic.
  if (head.length >= 9 && head[8] === 0x7b) return 'safetensors';
  if (head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04)
    return 'torch-zip';
  if (head.length >= 4 && String.fromCharCode(head[0], head[1], head[2], head[3]) === 'GGUF') return 'gguf';
  if (head.length >= 1 && head[0] === 0x80) return 'pickle';
  return 'unknown';
}

export const PICKLE_REFUSAL =
  '.ckpt / .pt / .bin (PyTorch pickle) checkpoints are not supported because loading them can execute code. ' +
  'Convert it to .safetensors first, e.g. in Python: ' +
  '`from safetensors.torch import save_file; import torch; ' +
  "sd = torch.load('model.ckpt', map_location='cpu', weights_only=True); sd = sd.get('state_dict', sd); " +
  "save_file({k: v.contiguous() for k, v in sd.items() if hasattr(v, 'contiguous')}, 'model.safetensors')`";

/** Largest single read: Node's fs rejects reads over 2 GiB, and smaller chunks keep the event loop fair. */
const READ_CHUNK = 64 * 1024 * 1024;

export class SafetensorsFile implements SafetensorsHeader {
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    readonly fileSize: number,
    /** File offset of the data buffer: 8 + header length. */
    readonly dataOffset: number,
    readonly tensors: ReadonlyMap<string, TensorInfo>,
    readonly metadata: Readonly<Record<string, string>>,
  ) {}

  static async open(path: string): Promise<SafetensorsFile> {
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (error) {
      throw new CheckpointError('io', `cannot open: ${(error as Error).message}`, path);
    }
    try {
      const { size } = await handle.stat();
      const head = Buffer.alloc(Math.min(size, 16));
      await readFully(handle, head, 0);
      const format = sniffFormat(head);
      if (format === 'torch-zip' || format === 'pickle')
        throw new CheckpointError('unsupported-format', PICKLE_REFUSAL, path);
      if (format === 'gguf') {
        throw new CheckpointError(
          'unsupported-format',
          'GGUF files are not supported; use an SD1 .safetensors checkpoint',
          path,
        );
      }
      if (size < 8)
        throw new CheckpointError(
          'truncated',
          `file is truncated: ${size} bytes, too short for a safetensors header`,
          path,
        );
      const headerLength = Number(head.readBigUInt64LE(0));
      if (headerLength > MAX_HEADER_BYTES) {
        throw new CheckpointError(
          'corrupt',
          `invalid safetensors header: header length ${headerLength} exceeds the ${MAX_HEADER_BYTES}-byte limit (not a safetensors file?)`,
          path,
        );
      }
      if (8 + headerLength > size) {
        throw new CheckpointError(
          'truncated',
          `file is truncated: header length ${headerLength} runs past the end of the ${size}-byte file`,
          path,
        );
      }
      const headerBytes = Buffer.alloc(headerLength);
      await readFully(handle, headerBytes, 8);
      const json = headerBytes.toString('utf8').replace(/ +$/, '');
      const header = parseSafetensorsHeader(json, size - 8 - headerLength, path);
      return new SafetensorsFile(path, handle, size, 8 + headerLength, header.tensors, header.metadata);
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  get keys(): string[] {
    return [...this.tensors.keys()];
  }

  info(name: string): TensorInfo {
    const info = this.tensors.get(name);
    if (!info) throw new CheckpointError('unknown-tensor', `no tensor named "${name}"`, this.path);
    return info;
  }

  /** The tensor's bytes as stored (little-endian, row-major), in a buffer of its own. */
  async readRaw(name: string): Promise<Uint8Array> {
    const info = this.info(name);
    return this.readBytes(info.begin, info.end - info.begin);
  }

  /** Elements [first, first + count) of the flattened tensor, as stored. */
  async readElements(name: string, first: number, count: number): Promise<Uint8Array> {
    const info = this.info(name);
    const size = DTYPE_SIZE[info.dtype];
    const total = (info.end - info.begin) / size;
    if (first < 0 || count < 0 || first + count > total) {
      throw new CheckpointError(
        'unknown-tensor',
        `elements [${first}, ${first + count}) out of range for "${name}" (${total} elements)`,
        this.path,
      );
    }
    return this.readBytes(info.begin + first * size, count * size);
  }

  async readF32(name: string): Promise<Float32Array> {
    return bytesToF32(await this.readRaw(name), this.floatDtype(name));
  }

  /** IEEE half bits; fp16 tensors pass through untouched, F32/BF16 round to nearest even. */
  async readF16(name: string): Promise<Uint16Array> {
    return bytesToF16Bits(await this.readRaw(name), this.floatDtype(name));
  }

  floatDtype(name: string): FloatDtype {
    const { dtype } = this.info(name);
    if (!isFloatDtype(dtype)) {
      throw new CheckpointError(
        'unknown-tensor',
        `tensor "${name}" is ${dtype}, not a float tensor (F32/F16/BF16)`,
        this.path,
      );
    }
    return dtype;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.handle.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private async readBytes(dataBegin: number, length: number): Promise<Uint8Array> {
    if (this.closed) throw new CheckpointError('io', 'read after close', this.path);
    // A fresh ArrayBuffer per read (not Buffer's shared pool): callers may view it as Float32Array or transfer it.
    const out = new Uint8Array(length);
    await readFully(this.handle, out, this.dataOffset + dataBegin, this.path);
    return out;
  }
}

async function readFully(
  handle: FileHandle,
  target: Uint8Array,
  position: number,
  path?: string,
): Promise<void> {
  let done = 0;
  while (done < target.length) {
    const length = Math.min(READ_CHUNK, target.length - done);
    const { bytesRead } = await handle.read(target, done, length, position + done);
    if (bytesRead === 0) {
      throw new CheckpointError(
        'truncated',
        `file ended at byte ${position + done} while reading (was it truncated while open?)`,
        path,
      );
    }
    done += bytesRead;
  }
}
