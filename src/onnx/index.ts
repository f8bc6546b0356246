/** The ONNX engine: graph IR + builder, gradients, serialization, sessions. See README.md here. */

export { Builder } from './builder.js';
export { GRAPH_FORMAT_VERSION, GraphCache, type GraphKey, graphKeyHash } from './cache.js';
export { GraphBuilder, type Operand, type OutSpec } from './core.js';
export { dumpGraph, opCounts } from './debug.js';
export * from './dtype.js';
export { type GradOptions, grad } from './grad.js';
export type { Attr, FileRegion, Initializer, OpNode, Shape, Value } from './ir.js';
export { Graph, isFileRegion, numel } from './ir.js';
export { lowerForFloat64 } from './lower64.js';
export type { AttentionOptions } from './ops/attention.js';
export type { ConvOptions } from './ops/conv.js';
export {
  CUDA_SETUP_HINT,
  type CudaDiagnosis,
  diagnoseCuda,
  lddMissing,
  ortBindingDir,
  ortVersion,
} from './providers.js';
export { encodeModel, IR_VERSION, OPSET, type SavedModel, type SaveOptions, saveModel } from './serialize.js';
export {
  createSession,
  type EngineSession,
  type ExecutionProvider,
  type SessionOptions,
  type TensorValue,
} from './session.js';
export {
  readWeightFile,
  type StoredTensor,
  type TensorSource,
  WEIGHT_DATA_FILE,
  writeWeightFile,
} from './weight-file.js';
