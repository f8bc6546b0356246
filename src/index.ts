/** Library entry: the pieces other programs embed (service, engine, node registry). */

export { type ApplyOptions, applyConceptMask, conceptPatch } from './cones/apply.js';
export {
  CONES_TASKS,
  DEFAULT_EXTRACT_SETTINGS,
  DEFAULT_REFINE_SETTINGS,
  type ExtractPayload,
  type ExtractResult,
  type ExtractSettings,
  extractionHash,
  type RefinePayload,
  type RefineResult,
  type RefineSettings,
} from './cones/extract/protocol.js';
export * from './cones/index.js';
export { refineMergedConcept, refineProblem } from './cones/refine.js';
export { type DataDirOptions, resolveDataDirs } from './engine/data-dirs.js';
export { buildPluginManifest, type PluginManifest } from './engine/plugin-manifest.js';
export {
  createPromptService,
  type EnginePromptService,
  type PromptServiceOptions,
} from './engine/prompt-service.js';
export type * from './engine/service-types.js';
export { createTestNodes, type TestNodes } from './engine/testing-nodes.js';
export {
  isApiPrompt,
  isUiWorkflow,
  type UiWorkflow,
  uiWorkflowToApiPrompt,
} from './engine/ui-workflow.js';
export { type ValidationResult, validatePrompt } from './engine/validate.js';
export { type LoadedWorkflow, loadWorkflowFile } from './engine/workflow-file.js';
export { addPngText, parsePngChunks, readPngText } from './image/png-text.js';
export { pythonJsonDumps } from './image/py-json.js';
export { allNodeDefinitions, createNodeRegistry, nodeFamilies } from './nodes/index.js';
export { NodeRegistry, type ObjectInfoEntry, objectInfoInput } from './nodes/registry.js';
export {
  CheckpointLoaderSimple,
  CLIPTextEncode,
  EmptyLatentImage,
  KSampler,
  sdNodes,
  VAEDecode,
  VAEEncode,
} from './nodes/sd.js';
export * from './nodes/types.js';
export type { RuntimeClient, TaskMap, TaskName } from './runtime/task-map.js';
export { RuntimeTaskError, WorkerRuntime } from './runtime/worker-runtime.js';
export {
  type OpenCheckpointOptions,
  openCheckpoint,
  type SD1Checkpoint,
} from './sd/checkpoint/checkpoint.js';
export { CheckpointError, type CheckpointErrorCode } from './sd/checkpoint/errors.js';
export { SafetensorsFile } from './sd/checkpoint/safetensors-reader.js';
export { type TensorSpec, writeSafetensors } from './sd/checkpoint/safetensors-writer.js';
export { SD1_CONFIG, type SD1Config } from './sd/config.js';
export { latentPreviewJpeg, latentToRgb } from './sd/latent-preview.js';
export { prepareNoise, type RandnKernel, type Seed, TorchGenerator } from './sd/noise/index.js';
export { ModelCache } from './sd/pipeline/model-cache.js';
export * from './sd/pipeline/protocol.js';
export * from './sd/pipeline/values.js';
export {
  type Denoiser,
  SAMPLER_NAMES,
  SAMPLERS,
  type Sampler,
  type SamplerName,
  samplerByName,
} from './sd/samplers/index.js';
export { ksamplerSigmas, SCHEDULER_NAMES, type SchedulerName, sd1Schedule } from './sd/schedule.js';
export { type TokenChunk, type TokenizedPrompt, tokenize } from './sd/tokenizer/index.js';
export * from './server/index.js';
export { InterruptedError } from './shared/interrupted.js';
export { onUnloadModels } from './shared/model-unload.js';
export type { DataDirs, Latent, Tensor } from './shared/types.js';
