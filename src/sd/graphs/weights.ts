/**
 * Weights for the graph builders: read once from a checkpoint (canonical LDM keys) into memory in the
 * graph's dtype, then handed to the synchronous builders. float16 weights come straight from F16 files
 * (no widening); float64 exists for the gradient checks.
 */
import { type DType, numel, type TensorData } from '../../onnx/index.js';

export type GraphDType = 'float32' | 'float16' | 'float64';

/** What the loader needs from a checkpoint; `SD1Checkpoint` satisfies it. */
export interface WeightReader {
  has(key: string): boolean;
  shapeOf(key: string): readonly number[];
  readF32(key: string): Promise<Float32Array>;
  readF16(key: string): Promise<Uint16Array>;
}

export interface WeightTensor {
  data: TensorData;
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
