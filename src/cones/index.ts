/** Public API of the concept subsystem (data model, file format, merge, info, workflow embedding). */
export { layerChartImage, layerChartPng, layerChartSvg } from './chart.js';
export { decodeIndices, encodeIndices, INDEX_CODECS, type IndexCodec } from './codec.js';
export {
  type Concept,
  type ConceptDescription,
  ConceptError,
  type ConceptFileFacts,
  type ConceptLayer,
  type ConceptTrainingData,
  type CreateConceptOptions,
  conceptLabel,
  createConcept,
  indicesAboveThreshold,
  layerScale,
  topFractionIndices,
} from './concept.js';
export {
  decodeEmbedded,
  EmbeddedConceptError,
  embedConcepts,
  extractEmbeddedConcepts,
  findEmbeddedConcept,
} from './embed.js';
export {
  CONCEPT_EXTENSION,
  ConceptFileError,
  type ConceptFileErrorCode,
  decodeConcept,
  encodeConcept,
  loadConceptFile,
  saveConceptFile,
} from './file.js';
export { type ConceptInfo, conceptInfo, formatConceptInfo } from './info.js';
export {
  CONCEPT_SCOPES,
  type ConceptScope,
  type KvLayoutConfig,
  kvShapes,
  kvShapesFromCheckpoint,
  scopeWeightKeys,
  type WeightShape,
} from './layers.js';
export { checkMergeable, formatMergeStats, type MergeStats, mergeConcepts, overlapStats } from './merge.js';
export { type ConceptMetadata, conceptMetadataSchema } from './metadata-schema.js';
