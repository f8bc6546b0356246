/**
 * Whole-buffer safetensors read/write for concept files (small enough to hold in memory and to
 * embed in workflows). Header parsing and encoding are the checkpoint reader's own
 * (src/sd/checkpoint), so both agree on what a valid file is.
 */
import {
  CheckpointError,
  encodeSafetensorsHeader,
  isSafetensorsDtype,
  parseSafetensorsHeader,
  type SafetensorsDtype,
  safetensorsOrder,
} from '../sd/checkpoint/index.js';
import { MAX_HEADER_BYTES } from '../sd/checkpoint/safetensors-reader.js';

export class SafetensorsError extends Error {
  constructor(
    readonly truncated: boolean,
    message: string,
  ) {
    super(message);
    this.name = 'SafetensorsError';
  }
}

export interface SafetensorsTensor {
  dtype: string;
  shape: number[];
  /** Raw little-endian bytes (a view into the file buffer when read). */
  data: Uint8Array;
}

export interface SafetensorsContent {
  metadata: Record<string, string>;
  tensors: Map<string, SafetensorsTensor>;
}

export function writeSafetensors(
  tensors: ReadonlyMap<string, SafetensorsTensor>,
  metadata: Record<string, string>,
): Uint8Array {
  const specs = [...tensors].map(([name, t]) => {
    if (!isSafetensorsDtype(t.dtype))
      throw new SafetensorsError(false, `unsupported dtype ${t.dtype} for tensor '${name}'`);
    return { name, dtype: t.dtype as SafetensorsDtype, shape: t.shape };
  });
  const header = encodeSafetensorsHeader(specs, metadata);
  let size = header.length;
  for (const t of tensors.values()) size += t.data.length;
  const out = new Uint8Array(size);
  out.set(header, 0);
  let pos = header.length;
  for (const spec of safetensorsOrder(specs)) {
    const data = tensors.get(spec.name)!.data;
    out.set(data, pos);
    pos += data.length;
  }
  return out;
}

/** Parses and checks a whole safetensors buffer; tensor data are views into `bytes`. */
export function readSafetensors(bytes: Uint8Array): SafetensorsContent {
  if (bytes.length < 8)
    throw new SafetensorsError(true, `file is truncated: ${bytes.length} bytes, not even a header length`);
  const n = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES))
    throw new SafetensorsError(false, `header length ${n} is implausible (not a safetensors file?)`);
  const headerLength = Number(n);
  if (8 + headerLength > bytes.length) {
    throw new SafetensorsError(
      true,
      `file is truncated: header needs ${headerLength} bytes, file has ${bytes.length - 8}`,
    );
  }
  const json = Buffer.from(bytes.buffer, bytes.byteOffset + 8, headerLength).toString('utf8');
  const dataStart = 8 + headerLength;
  let header: ReturnType<typeof parseSafetensorsHeader>;
  try {
    header = parseSafetensorsHeader(json, bytes.length - dataStart);
  } catch (e) {
    if (e instanceof CheckpointError) throw new SafetensorsError(e.code === 'truncated', e.message);
    throw e;
  }
  const tensors = new Map<string, SafetensorsTensor>();
  for (const t of header.tensors.values()) {
    tensors.set(t.name, {
      dtype: t.dtype,
      shape: [...t.shape],
      data: bytes.subarray(dataStart + t.begin, dataStart + t.end),
    });
  }
  return { metadata: { ...header.metadata }, tensors };
}
