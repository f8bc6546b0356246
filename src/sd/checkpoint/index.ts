/** Public API of the checkpoint subsystem (see README.md in this folder). */
export { type OpenCheckpointOptions, openCheckpoint, type SD1Checkpoint } from './checkpoint.js';
export { detectForeignDiffusersPipeline, detectForeignSingleFile, type ForeignModel } from './detect.js';
export * from './diffusers-keys.js';
export * from './dtype.js';
export { CheckpointError, type CheckpointErrorCode } from './errors.js';
export { computeFingerprint, FINGERPRINT_VERSION } from './fingerprint.js';
export { checkTensorShapes, inferSD1Config, METADATA_KEYS, type ShapeTable } from './infer-config.js';
export {
  parseSafetensorsHeader,
  SafetensorsFile,
  sniffFormat,
  type TensorInfo,
} from './safetensors-reader.js';
export {
  encodeSafetensorsHeader,
  safetensorsOrder,
  type TensorSource,
  type TensorSpec,
  writeSafetensors,
  writeSafetensorsTensors,
} from './safetensors-writer.js';
export * from './sd1-tensors.js';
