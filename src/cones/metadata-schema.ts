/**
 * JSON Schema of a concept file's metadata (the JSON string stored under `__metadata__["cones.metadata"]`).
 * `schemas/concept-metadata.schema.json` is this object verbatim (a test fails on drift); TS types are
 * derived with json-schema-to-ts, never hand-copied.
 */
import type { FromSchema } from 'json-schema-to-ts';
import { KV_WEIGHT_KEY_PATTERN } from '../sd/graphs/kv.js';

const CHECKSUM_PATTERN = '^sha256:[0-9a-f]{64}$';

export const hyperParametersSchema = {
  type: 'object',
  description:
    'Extraction settings (Algorithm A2). Known keys are typed; tools may add further scalar settings.',
  required: ['steps', 'learning_rate', 'selection', 'batch_size', 'prior_loss_weight', 'resolution', 'seed'],
  properties: {
    steps: { type: 'integer', minimum: 1, description: 'K, the number of A2 gradient steps.' },
    learning_rate: { type: 'number', exclusiveMinimum: 0, description: 'ρ in ξ ← ξ − ρ∇ξL.' },
    selection: {
      enum: ['threshold', 'top_fraction'],
      description:
        'threshold: neurons with M_p > τ; top_fraction: the largest M_p, a fixed share of the scope.',
    },
    threshold: { type: 'number', description: 'τ (selection = threshold).' },
    top_fraction: {
      type: 'number',
      exclusiveMinimum: 0,
      maximum: 1,
      description: 'Share of the scope kept (selection = top_fraction).',
    },
    batch_size: { type: 'integer', minimum: 1 },
    prior_loss_weight: { type: 'number', minimum: 0, description: 'λ on the prior-preservation MSE.' },
    resolution: { type: 'integer', minimum: 8, description: 'Training image side in pixels.' },
    seed: { type: 'integer', minimum: 0 },
  },
  additionalProperties: { type: ['number', 'string', 'boolean'] },
} as const;

export const extractedOriginSchema = {
  type: 'object',
  required: ['kind', 'hyper_parameters'],
  properties: {
    kind: { const: 'extracted' },
    hyper_parameters: hyperParametersSchema,
    instance_prompt: { type: 'string', description: 'e.g. "photo of a sks dog"' },
    prior_prompt: { type: 'string', description: 'e.g. "photo of a dog"' },
    num_instance_images: { type: 'integer', minimum: 0 },
    num_prior_images: { type: 'integer', minimum: 0 },
  },
  additionalProperties: false,
} as const;

export const mergeSourceSchema = {
  type: 'object',
  required: ['identifier', 'class_noun', 'checksum', 'total_count'],
  properties: {
    identifier: { type: 'string' },
    class_noun: { type: 'string' },
    checksum: { type: 'string', pattern: CHECKSUM_PATTERN },
    total_count: { type: 'integer', minimum: 0 },
  },
  additionalProperties: false,
} as const;

export const overlapSchema = {
  type: 'object',
  description:
    "Shared neurons of a group of sources (two for pairwise, all for all-way); percent = 100·shared/union, the paper's Fig. 4 statistic.",
  required: ['sources', 'shared', 'union', 'percent'],
  properties: {
    sources: { type: 'array', items: { type: 'integer', minimum: 0 }, minItems: 2, maxItems: 4 },
    shared: { type: 'integer', minimum: 0 },
    union: { type: 'integer', minimum: 0 },
    percent: { type: 'number', minimum: 0, maximum: 100 },
  },
  additionalProperties: false,
} as const;

export const mergedOriginSchema = {
  type: 'object',
  required: ['kind', 'method', 'refine_steps', 'sources'],
  properties: {
    kind: { const: 'merged' },
    method: { const: 'union' },
    refine_steps: {
      type: 'integer',
      minimum: 0,
      description: 'A2 steps on the summed loss inside the union (0 = plain union).',
    },
    sources: { type: 'array', items: mergeSourceSchema, minItems: 2, maxItems: 4 },
    overlap: {
      type: 'array',
      items: overlapSchema,
      description: 'Pairwise, then all-way (3+ sources), over all layers.',
    },
  },
  additionalProperties: false,
} as const;

export const layerEntrySchema = {
  type: 'object',
  required: ['shape', 'count'],
  properties: {
    shape: {
      type: 'array',
      items: { type: 'integer', minimum: 1, maximum: 65536 },
      minItems: 2,
      maxItems: 2,
      description: '[out, in] of the weight; flat index = row·in + column.',
    },
    count: { type: 'integer', minimum: 0, description: 'Concept neurons in this weight.' },
  },
  additionalProperties: false,
} as const;

export const latentShapeSchema = {
  type: 'array',
  items: { type: 'integer', minimum: 1 },
  minItems: 4,
  maxItems: 4,
  description: '[N, 4, h, w] of the F32 tensor stored beside the index streams.',
} as const;

export const trainingDataSchema = {
  type: 'object',
  description: 'Kept training data (opt-in) so Merge can refine without the original images.',
  required: ['instance_prompt', 'instance_latents'],
  properties: {
    instance_prompt: { type: 'string' },
    prior_prompt: { type: 'string' },
    instance_latents: latentShapeSchema,
    prior_latents: latentShapeSchema,
  },
  additionalProperties: false,
} as const;

export const conceptMetadataSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://cones-nodes.dev/schemas/concept-metadata.schema.json',
  title: 'Cones concept file metadata',
  description:
    'Stored as a JSON string in the safetensors __metadata__ key "cones.metadata" of a .cones.safetensors file. Each layer\'s concept neurons are the U8 tensor "indices.<key>" (a compressed index stream).',
  type: 'object',
  required: [
    'format',
    'version',
    'identifier',
    'class_noun',
    'base_model',
    'scope',
    'origin',
    'layers',
    'total_count',
    'total_parameters_in_scope',
    'creator',
    'created',
  ],
  properties: {
    format: { const: 'cones-concept' },
    version: { const: 1 },
    identifier: {
      type: 'string',
      minLength: 1,
      maxLength: 256,
      description: 'Rare token, e.g. "sks"; merges join with "+".',
    },
    class_noun: { type: 'string', minLength: 1, maxLength: 256, description: 'e.g. "dog".' },
    base_model: {
      type: 'object',
      required: ['fingerprint', 'architecture'],
      properties: {
        fingerprint: {
          type: 'string',
          minLength: 1,
          maxLength: 256,
          description: 'Fingerprint of the UNet weights the concept was extracted from.',
        },
        name: { type: 'string', maxLength: 512 },
        architecture: { const: 'sd1' },
      },
      additionalProperties: false,
    },
    scope: { enum: ['cross-attention K/V', 'all attention K/V'] },
    origin: { oneOf: [extractedOriginSchema, mergedOriginSchema] },
    layers: {
      type: 'object',
      description:
        'Every weight in scope that the base model holds (zero counts included; SD1: 32 or 64, smaller SD1-architecture models fewer), keyed by canonical LDM key.',
      minProperties: 1,
      propertyNames: { pattern: KV_WEIGHT_KEY_PATTERN },
      additionalProperties: layerEntrySchema,
    },
    total_count: { type: 'integer', minimum: 0 },
    total_parameters_in_scope: { type: 'integer', minimum: 1 },
    training_data: trainingDataSchema,
    creator: {
      type: 'object',
      required: ['tool', 'version'],
      properties: { tool: { type: 'string' }, version: { type: 'string' } },
      additionalProperties: false,
    },
    created: { type: 'string', format: 'date-time' },
  },
  additionalProperties: false,
} as const;

export type ConceptMetadata = FromSchema<typeof conceptMetadataSchema>;
export type HyperParameters = FromSchema<typeof hyperParametersSchema>;
export type ConceptOrigin = FromSchema<typeof extractedOriginSchema> | FromSchema<typeof mergedOriginSchema>;
export type ExtractedOrigin = FromSchema<typeof extractedOriginSchema>;
export type MergedOrigin = FromSchema<typeof mergedOriginSchema>;
export type MergeSource = FromSchema<typeof mergeSourceSchema>;
export type OverlapStat = FromSchema<typeof overlapSchema>;
export type TrainingDataInfo = FromSchema<typeof trainingDataSchema>;
