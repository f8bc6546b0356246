/** Library entry: the pieces other programs embed (service, engine, node registry). */

export * from './cones/index.js';
export { type DataDirOptions, resolveDataDirs } from './engine/data-dirs.js';
export {
  createPromptService,
  type EnginePromptService,
  type PromptServiceOptions,
} from './engine/prompt-service.js';
export type * from './engine/service-types.js';
export { createTestNodes, type TestNodes } from './engine/testing-nodes.js';
export { type ValidationResult, validatePrompt } from './engine/validate.js';
export { addPngText, parsePngChunks, readPngText } from './image/png-text.js';
export { pythonJsonDumps } from './image/py-json.js';
export { allNodeDefinitions, createNodeRegistry, nodeFamilies } from './nodes/index.js';
export { NodeRegistry, type ObjectInfoEntry, objectInfoInput } from './nodes/registry.js';
export * from './nodes/types.js';
export { RuntimeTaskError, WorkerRuntime } from './runtime/worker-runtime.js';
