/**
 * Weights for the graph builders, by canonical LDM key in the graph's dtype: `storedWeights` writes
 * them once per model part into a weight folder on disk (one tensor in memory at a time) and hands the
 * builders file regions, so building a graph never holds the weights; `loadWeights` reads them into
 * memory (float64 checks, tests). float16 weights come straight from F16 files (no widening).
 */
import { type DType, type FileRegion, numel, type TensorData, writeWeightFile } from '../../onnx/index.js';

export type GraphDType = 'float32' | 'float16' | 'float64';

/** What the loader needs from a checkpoint; `SD1Checkpoint` satisfies it. */
export interface WeightReader {
  has(key: string): boolean;
  shapeOf(key: string): readonly number[];
  readF32(key: string): Promise<Float32Array>;
  readF16(key: string): Promise<Uint16Array>;
}

/** One weight: in memory (`data`) or on disk (`file`, from `storedWeights`). */
export interface WeightTensor {
  data?: TensorData;
  file?: FileRegion;
  /** A 2-D weight [out, in] also stored transposed [in, out] (linear layers multiply it as is). */
  fileT?: FileRegion;
  shape: readonly number[];
  dtype: DType;
}

/** Canonical LDM key → tensor in the graph dtype. */
export type Weights = ReadonlyMap<string, WeightTensor>;

export async function loadWeights(
  reader: WeightReader,
  keys: Iterable<string>,
  dtype: GraphDType,
): Promise<Weights> {
  const out = new Map<string, WeightTensor>();
  for (const key of keys) {
    const shape = [...reader.shapeOf(key)];
    let data: TensorData;
    if (dtype === 'float16') data = await reader.readF16(key);
    else if (dtype === 'float64') data = Float64Array.from(await reader.readF32(key));
    else data = await reader.readF32(key);
    if (data.length !== numel(shape))
      throw new Error(`weight ${key}: ${data.length} values for shape [${shape}]`);
    out.set(key, { data, shape, dtype });
  }
  return out;
}

/** Name of the transposed copy of a 2-D weight in a weight folder. */
const transposedName = (key: string) => `${key}.T`;

/**
 * The weights `keys` of `reader` in `dtype`, written once into the weight folder `dir` (reused when it
 * exists) and returned as file regions. With `transpose2d`, every 2-D weight is also stored
 * transposed (`fileT`, for linear layers). Only one tensor is in memory while the folder is written.
 */
export async function storedWeights(
  reader: WeightReader,
  keys: Iterable<string>,
  dtype: 'float32' | 'float16',
  dir: string,
  opts: { transpose2d?: boolean } = {},
): Promise<Weights> {
  const list = [...keys];
  const read = (key: string) => (dtype === 'float16' ? reader.readF16(key) : reader.readF32(key));
  const sources = list.flatMap((key) => {
    const shape = reader.shapeOf(key);
    const plain = { name: key, dtype, shape, read: () => read(key) };
    if (!opts.transpose2d || shape.length !== 2) return [plain];
    const [rows, cols] = shape;
    const flipped = {
      name: transposedName(key),
      dtype,
      shape: [cols, rows],
      read: async () => transpose2d(await read(key), rows, cols),
    };
    return [plain, flipped];
  });
  const stored = await writeWeightFile(dir, sources);
  const out = new Map<string, WeightTensor>();
  for (const key of list) {
    const t = stored.get(key);
    if (!t || t.dtype !== dtype)
      throw new Error(`weight folder ${dir} lacks ${dtype} '${key}': delete it to rewrite`);
    out.set(key, { file: t.file, fileT: stored.get(transposedName(key))?.file, shape: t.shape, dtype });
  }
  return out;
}

function transpose2d<T extends Float32Array | Uint16Array>(data: T, rows: number, cols: number): T {
  const out = new (data.constructor as new (n: number) => T)(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c];
  return out;
}
