/**
 * ONNX ModelProto writer (IR 8, opset 17) with external data: weights go to side files of at most
 * `maxSideFileBytes` each, at `align`-byte offsets, and the model is loaded by path (loading from
 * buffers makes ORT hold a second copy — measured).
 *
 * Field numbers from onnx.proto: ModelProto{ir_version 1, producer_name 2, producer_version 3,
 * graph 7, opset_import 8}; GraphProto{node 1, name 2, initializer 5, input 11, output 12};
 * NodeProto{input 1, output 2, name 3, op_type 4, attribute 5, domain 7}; AttributeProto{name 1,
 * f 2, i 3, s 4, floats 7, ints 8, type 20}; TensorProto{dims 1, data_type 2, name 8, raw_data 9,
 * external_data 13, data_location 14}; ValueInfoProto{name 1, type 2}; TypeProto{tensor_type 1};
 * TypeProto.Tensor{elem_type 1, shape 2}; TensorShapeProto{dim 1}; Dimension{dim_value 1, dim_param 2}.
 */
import {
  closeSync,
  copyFileSync,
  existsSync,
  linkSync,
  mkdirSync,
  openSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { isFloat, ONNX_DTYPE, type TensorData } from './dtype.js';
import type { Attr, Graph, Initializer, Value } from './ir.js';
import { ProtoWriter } from './proto.js';

export const IR_VERSION = 8;
export const OPSET = 17;

export interface SaveOptions {
  /** Model file name inside the directory (default model.onnx). */
  fileName?: string;
  /** Largest side file; a tensor bigger than this gets a file of its own. Default 2 GiB. */
  maxSideFileBytes?: number;
  /** Offset alignment inside side files (default 4096). */
  align?: number;
  /** Tensors up to this many bytes stay inline in the model (default 1024). */
  inlineMaxBytes?: number;
}

export interface SavedModel {
  modelPath: string;
  sideFiles: string[];
  modelBytes: number;
  weightBytes: number;
}

interface ExternalRef {
  location: string;
  offset: number;
  length: number;
}

function bytesOf(data: TensorData): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

function writeAttr(w: ProtoWriter, name: string, a: Attr): void {
  w.string(1, name);
  if ('i' in a) w.int(3, a.i).int(20, 2);
  else if ('f' in a) w.float(2, a.f).int(20, 1);
  else if ('s' in a) w.string(4, a.s).int(20, 3);
  else if ('ints' in a) w.packedInts(8, a.ints).int(20, 7);
  else w.packedFloats(7, a.floats).int(20, 6);
}

function writeTensor(w: ProtoWriter, t: Initializer, ext?: ExternalRef): void {
  w.packedInts(1, t.shape);
  w.int(2, ONNX_DTYPE[t.dtype]);
  w.string(8, t.name);
  if (ext) {
    for (const [k, v] of [
      ['location', ext.location],
      ['offset', String(ext.offset)],
      ['length', String(ext.length)],
    ]) {
      w.message(13, (e) => e.string(1, k).string(2, v));
    }
    w.int(14, 1);
  } else {
    if (!t.data)
      throw new Error(`initializer '${t.name}' lives in ${t.file?.path}: save the model with saveModel`);
    w.bytes(9, bytesOf(t.data));
  }
}

function writeValueInfo(w: ProtoWriter, v: Value, symbolic?: readonly (string | undefined)[]): void {
  w.string(1, v.name);
  w.message(2, (type) =>
    type.message(1, (tt) => {
      tt.int(1, ONNX_DTYPE[v.dtype]);
      tt.message(2, (shape) => {
        v.shape.forEach((d, i) => {
          const param = symbolic?.[i];
          shape.message(1, (dim) => (param ? dim.string(2, param) : dim.int(1, d)));
        });
      });
    }),
  );
}

/** Encodes the graph as ModelProto bytes; initializers listed in `external` are referenced, not embedded. */
export function encodeModel(
  graph: Graph,
  external: ReadonlyMap<string, ExternalRef> = new Map(),
): Uint8Array {
  const used = usedNames(graph);
  const w = new ProtoWriter();
  w.int(1, IR_VERSION);
  w.string(2, 'cones-nodes');
  w.string(3, '1');
  w.message(7, (gw) => {
    for (const n of graph.nodes) {
      gw.message(1, (nw) => {
        for (const x of n.inputs) nw.string(1, x);
        for (const o of n.outputs) nw.string(2, o);
        nw.string(3, n.name);
        nw.string(4, n.op);
        for (const [name, a] of Object.entries(n.attrs)) nw.message(5, (aw) => writeAttr(aw, name, a));
      });
    }
    gw.string(2, graph.name);
    for (const t of graph.initializers.values()) {
      if (used.has(t.name)) gw.message(5, (tw) => writeTensor(tw, t, external.get(t.name)));
    }
    for (const name of graph.inputs)
      gw.message(11, (vw) => writeValueInfo(vw, graph.value(name), graph.symbolicDims.get(name)));
    for (const name of graph.outputs)
      gw.message(12, (vw) => writeValueInfo(vw, graph.value(name), graph.symbolicDims.get(name)));
  });
  w.message(8, (ow) => ow.string(1, '').int(2, OPSET));
  return w.finish();
}

/** A hard link (same inode: no copy on disk or in the page cache); a copy across file systems. */
function linkOrCopy(from: string, to: string): void {
  if (existsSync(to)) return;
  try {
    linkSync(from, to);
  } catch {
    copyFileSync(from, to);
  }
}

function usedNames(graph: Graph): Set<string> {
  const used = new Set<string>();
  for (const n of graph.nodes) for (const x of n.inputs) used.add(x);
  for (const o of graph.outputs) used.add(o);
  return used;
}

/** Writes `dir/model.onnx` plus side files `model.onnx.data`, `model.onnx.data.1`, … */
export function saveModel(graph: Graph, dir: string, opts: SaveOptions = {}): SavedModel {
  const fileName = opts.fileName ?? 'model.onnx';
  const maxBytes = opts.maxSideFileBytes ?? 2 ** 31;
  const align = opts.align ?? 4096;
  const inlineMax = opts.inlineMaxBytes ?? 1024;
  mkdirSync(dir, { recursive: true });

  const external = new Map<string, ExternalRef>();
  const sideFiles: string[] = [];
  let fd: number | undefined;
  let offset = 0;
  let weightBytes = 0;
  const openNext = () => {
    if (fd !== undefined) closeSync(fd);
    const location = sideFiles.length === 0 ? `${fileName}.data` : `${fileName}.data.${sideFiles.length}`;
    sideFiles.push(location);
    fd = openSync(join(dir, location), 'w');
    offset = 0;
  };
  const used = usedNames(graph);
  // On-disk weights (FileRegion initializers) are referenced where they lie: their file is hard-linked
  // into the model folder (ORT only reads external data inside it), so every graph built on one weight
  // file shares its bytes on disk and nothing is copied or read into memory.
  const linked = new Map<string, string>();
  for (const t of graph.initializers.values()) {
    if (!t.file || !used.has(t.name)) continue;
    let location = linked.get(t.file.path);
    if (!location) {
      location = `${fileName}.shared.${linked.size}`;
      linkOrCopy(t.file.path, join(dir, location));
      linked.set(t.file.path, location);
    }
    external.set(t.name, { location, offset: t.file.offset, length: t.file.length });
    weightBytes += t.file.length;
  }
  try {
    for (const t of graph.initializers.values()) {
      if (!t.data) continue;
      const bytes = bytesOf(t.data);
      // Shape/axes constants stay inline: ORT's shape inference must read them.
      if (bytes.length <= inlineMax || !used.has(t.name) || !isFloat(t.dtype)) continue;
      const start = Math.ceil(offset / align) * align;
      if (fd === undefined || (offset > 0 && start + bytes.length > maxBytes)) openNext();
      const at = Math.ceil(offset / align) * align;
      if (at > offset) writeSync(fd!, Buffer.alloc(at - offset), 0, at - offset, offset);
      let written = 0;
      while (written < bytes.length)
        written += writeSync(fd!, bytes, written, bytes.length - written, at + written);
      external.set(t.name, { location: sideFiles[sideFiles.length - 1], offset: at, length: bytes.length });
      offset = at + bytes.length;
      weightBytes += bytes.length;
    }
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  const model = encodeModel(graph, external);
  const modelPath = join(dir, fileName);
  sideFiles.push(...linked.values());
  writeFileSync(modelPath, model);
  return { modelPath, sideFiles: sideFiles.map((f) => join(dir, f)), modelBytes: model.length, weightBytes };
}
