/**
 * safetensors writer. The header depends only on names, dtypes and shapes, so it is written first
 * and tensor data is then streamed one tensor at a time from a callback: writing a multi-GB file
 * needs memory for one tensor, not the file. Output goes to a temporary file renamed into place,
 * so readers never see a half-written checkpoint.
 */
import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { DTYPE_SIZE, numel, type SafetensorsDtype } from './dtype.js';

export interface TensorSpec {
  readonly name: string;
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
}

/** Produces one tensor's bytes (little-endian, row-major); any typed array of the right byte length. */
export type TensorSource = (spec: TensorSpec) => ArrayBufferView | Promise<ArrayBufferView>;

export interface WriteSafetensorsOptions {
  /** Written as `__metadata__` (values must be strings, as the format requires). */
  metadata?: Record<string, string>;
}

/**
 * The order the reference writer uses: larger element sizes first, then by name. With an 8-byte
 * aligned header this aligns every tensor to its element size, so readers can view it in place.
 */
export function safetensorsOrder(specs: readonly TensorSpec[]): TensorSpec[] {
  return [...specs].sort(
    (a, b) => DTYPE_SIZE[b.dtype] - DTYPE_SIZE[a.dtype] || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  );
}

/** The header bytes (length prefix included) for `specs` written in `safetensorsOrder`. */
export function encodeSafetensorsHeader(
  specs: readonly TensorSpec[],
  metadata?: Record<string, string>,
): Buffer {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new TypeError(`__metadata__["${k}"] must be a string`);
    }
    header.__metadata__ = metadata;
  }
  const seen = new Set<string>();
  let offset = 0;
  for (const spec of safetensorsOrder(specs)) {
    if (spec.name === '__metadata__' || seen.has(spec.name))
      throw new TypeError(`duplicate or reserved tensor name "${spec.name}"`);
    seen.add(spec.name);
    const bytes = numel(spec.shape) * DTYPE_SIZE[spec.dtype];
    header[spec.name] = { dtype: spec.dtype, shape: [...spec.shape], data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const padded = Math.ceil(json.length / 8) * 8;
  const out = Buffer.alloc(8 + padded, 0x20);
  out.writeBigUInt64LE(BigInt(padded), 0);
  json.copy(out, 8);
  return out;
}

/** Write a safetensors file, pulling each tensor's bytes from `source` in file order. Returns the file size. */
export async function writeSafetensors(
  path: string,
  specs: readonly TensorSpec[],
  source: TensorSource,
  options: WriteSafetensorsOptions = {},
): Promise<number> {
  const header = encodeSafetensorsHeader(specs, options.metadata);
  const temp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const handle = await open(temp, 'w');
  let position = 0;
  // One write in flight while the next tensor is produced: overlaps generation with disk I/O and
  // keeps at most two tensors in memory.
  let pending: Promise<void> = Promise.resolve();
  try {
    await writeAll(handle, header, position);
    position += header.length;
    for (const spec of safetensorsOrder(specs)) {
      const data = await source(spec);
      const expected = numel(spec.shape) * DTYPE_SIZE[spec.dtype];
      if (data.byteLength !== expected) {
        throw new TypeError(
          `tensor "${spec.name}" ${spec.dtype}[${spec.shape.join(', ')}] needs ${expected} bytes, source gave ${data.byteLength}`,
        );
      }
      await pending;
      pending = writeAll(handle, new Uint8Array(data.buffer, data.byteOffset, data.byteLength), position);
      position += expected;
    }
    await pending;
    await handle.close();
  } catch (error) {
    await pending.catch(() => {});
    await handle.close().catch(() => {});
    await rm(temp, { force: true });
    throw error;
  }
  await rename(temp, path);
  return position;
}

/** Convenience for small files: every tensor already in memory. */
export async function writeSafetensorsTensors(
  path: string,
  tensors: ReadonlyMap<string, { dtype: SafetensorsDtype; shape: readonly number[]; data: ArrayBufferView }>,
  options: WriteSafetensorsOptions = {},
): Promise<number> {
  const specs = [...tensors].map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape }));
  return writeSafetensors(path, specs, (spec) => tensors.get(spec.name)!.data, options);
}

async function writeAll(
  handle: Awaited<ReturnType<typeof open>>,
  bytes: Uint8Array,
  position: number,
): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await handle.write(bytes, done, bytes.length - done, position + done);
    done += bytesWritten;
  }
}
