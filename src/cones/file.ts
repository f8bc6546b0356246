/**
 * The concept file (`.cones.safetensors`): a safetensors container readable by existing tools.
 *   tensor `indices.<LDM key>`   U8 [n]  compressed index stream of that weight (codec.ts)
 *   tensor `training.instance_latents` / `training.prior_latents`  F32 [N,4,h,w]  (opt-in)
 *   __metadata__ `format`          "cones-concept"
 *   __metadata__ `cones.metadata`  JSON, schemas/concept-metadata.schema.json
 *   __metadata__ `cones.checksum`  "sha256:<hex>" over canonical metadata + all tensors (checksum.ts)
 */
import { readFile, writeFile } from 'node:fs/promises';
import { displayPath } from '../sd/checkpoint/display-path.js';
import type { Tensor } from '../shared/types.js';
import { conceptChecksum, sha256Hex } from './checksum.js';
import { decodeIndices, encodeIndices, IndexStreamError, peekIndexStream } from './codec.js';
import { type Concept, type ConceptLayer, type ConceptTrainingData, numel } from './concept.js';
import { canonicalKvOrder, type WeightShape } from './layers.js';
import { conceptMetadataProblems } from './metadata.js';
import type { ConceptMetadata } from './metadata-schema.js';
import {
  readSafetensors,
  SafetensorsError,
  type SafetensorsTensor,
  writeSafetensors,
} from './safetensors.js';

export const CONCEPT_EXTENSION = '.cones.safetensors';
export const CONCEPT_FORMAT = 'cones-concept';
export const METADATA_KEY = 'cones.metadata';
export const CHECKSUM_KEY = 'cones.checksum';
export const INDEX_TENSOR_PREFIX = 'indices.';
const INSTANCE_LATENTS = 'training.instance_latents';
const PRIOR_LATENTS = 'training.prior_latents';

export type ConceptFileErrorCode =
  | 'unreadable'
  | 'truncated'
  | 'not_safetensors'
  | 'not_a_concept'
  | 'bad_metadata'
  | 'checksum_mismatch'
  | 'bad_indices';

export class ConceptFileError extends Error {
  constructor(
    readonly code: ConceptFileErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ConceptFileError';
  }
}

function latentBytes(t: Tensor): SafetensorsTensor {
  if (t.shape.length !== 4 || t.shape.reduce((a, b) => a * b, 1) !== t.data.length) {
    throw new ConceptFileError(
      'bad_metadata',
      `training latents have shape [${t.shape}] for ${t.data.length} values`,
    );
  }
  return {
    dtype: 'F32',
    shape: [...t.shape],
    data: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength),
  };
}

export interface EncodedConcept {
  bytes: Uint8Array;
  checksum: string;
  metadata: ConceptMetadata;
  streams: Map<string, { bytes: number; codec: string }>;
}

/** Serializes a concept; training data go in unless `includeTrainingData` is false. */
export function encodeConcept(
  concept: Concept,
  options: { includeTrainingData?: boolean } = {},
): EncodedConcept {
  const tensors = new Map<string, SafetensorsTensor>();
  const streams = new Map<string, { bytes: number; codec: string }>();
  const layers: ConceptMetadata['layers'] = {};
  let total = 0;
  let params = 0;
  for (const layer of concept.layers) {
    const { bytes, codec } = encodeIndices(layer.indices, numel(layer));
    tensors.set(INDEX_TENSOR_PREFIX + layer.key, { dtype: 'U8', shape: [bytes.length], data: bytes });
    streams.set(layer.key, { bytes: bytes.length, codec });
    layers[layer.key] = { shape: [layer.shape[0], layer.shape[1]], count: layer.indices.length };
    total += layer.indices.length;
    params += numel(layer);
  }
  const training = options.includeTrainingData === false ? undefined : concept.training;
  let trainingInfo: ConceptMetadata['training_data'];
  if (training) {
    tensors.set(INSTANCE_LATENTS, latentBytes(training.instanceLatents));
    trainingInfo = {
      instance_prompt: training.instancePrompt,
      instance_latents: training.instanceLatents.shape as [number, number, number, number],
    };
    if (training.priorPrompt !== undefined) trainingInfo.prior_prompt = training.priorPrompt;
    if (training.priorLatents) {
      tensors.set(PRIOR_LATENTS, latentBytes(training.priorLatents));
      trainingInfo.prior_latents = training.priorLatents.shape as [number, number, number, number];
    }
  }
  const d = concept.description;
  const metadata: ConceptMetadata = {
    format: CONCEPT_FORMAT,
    version: 1,
    identifier: d.identifier,
    class_noun: d.class_noun,
    base_model: d.base_model,
    scope: d.scope,
    origin: d.origin,
    layers,
    total_count: total,
    total_parameters_in_scope: params,
    ...(trainingInfo ? { training_data: trainingInfo } : {}),
    creator: d.creator,
    created: d.created,
  };
  const problems = conceptMetadataProblems(metadata);
  if (problems) throw new ConceptFileError('bad_metadata', `concept metadata is invalid: ${problems}`);
  const checksum = conceptChecksum(metadata, tensors);
  const bytes = writeSafetensors(tensors, {
    format: CONCEPT_FORMAT,
    [METADATA_KEY]: JSON.stringify(metadata),
    [CHECKSUM_KEY]: checksum,
  });
  return { bytes, checksum, metadata, streams };
}

function readLatents(
  tensors: Map<string, SafetensorsTensor>,
  name: string,
  shape: number[] | undefined,
): Tensor | undefined {
  const t = tensors.get(name);
  if (!t && !shape) return undefined;
  if (!t || !shape) {
    throw new ConceptFileError(
      'bad_metadata',
      `training data: tensor '${name}' and its metadata entry must come together`,
    );
  }
  if (t.dtype !== 'F32' || t.shape.join(',') !== shape.join(',')) {
    throw new ConceptFileError(
      'bad_metadata',
      `tensor '${name}' is ${t.dtype} [${t.shape}], metadata says F32 [${shape}]`,
    );
  }
  const data = new Float32Array(t.data.byteLength / 4);
  new Uint8Array(data.buffer).set(t.data);
  return { data, shape: [...t.shape] };
}

/** Parses a concept file, verifying container, checksum, schema and every index stream. */
export function decodeConcept(bytes: Uint8Array, source = 'concept file'): Concept {
  let file: ReturnType<typeof readSafetensors>;
  try {
    file = readSafetensors(bytes);
  } catch (e) {
    if (e instanceof SafetensorsError) {
      const code = e.truncated ? 'truncated' : 'not_safetensors';
      throw new ConceptFileError(code, `${source}: ${e.message}`);
    }
    throw e;
  }
  const meta = file.metadata;
  if (meta.format !== CONCEPT_FORMAT || !(METADATA_KEY in meta)) {
    throw new ConceptFileError(
      'not_a_concept',
      `${source}: a safetensors file but not a concept file (no "${METADATA_KEY}" metadata; a checkpoint or LoRA?)`,
    );
  }
  let metadata: unknown;
  try {
    metadata = JSON.parse(meta[METADATA_KEY]);
  } catch (e) {
    throw new ConceptFileError(
      'bad_metadata',
      `${source}: "${METADATA_KEY}" is not valid JSON: ${(e as Error).message}`,
    );
  }
  const stored = meta[CHECKSUM_KEY];
  if (!stored)
    throw new ConceptFileError('checksum_mismatch', `${source}: no "${CHECKSUM_KEY}" in the metadata`);
  const actual = conceptChecksum(metadata, file.tensors);
  if (actual !== stored) {
    throw new ConceptFileError(
      'checksum_mismatch',
      `${source}: checksum mismatch (file says ${stored}, content hashes to ${actual}); the file was modified or corrupted`,
    );
  }
  const problems = conceptMetadataProblems(metadata);
  if (problems)
    throw new ConceptFileError(
      'bad_metadata',
      `${source}: metadata does not match the concept schema: ${problems}`,
    );
  const m = metadata as ConceptMetadata;

  const expectedTensors = new Set<string>();
  const layers: ConceptLayer[] = [];
  const streams = new Map<string, { bytes: number; codec: string }>();
  for (const key of canonicalKvOrder(Object.keys(m.layers))) {
    const name = INDEX_TENSOR_PREFIX + key;
    expectedTensors.add(name);
    const t = file.tensors.get(name);
    if (!t) throw new ConceptFileError('bad_indices', `${source}: tensor '${name}' is missing`);
    if (t.dtype !== 'U8' || t.shape.length !== 1) {
      throw new ConceptFileError(
        'bad_indices',
        `${source}: tensor '${name}' is ${t.dtype} [${t.shape}], expected U8 [n]`,
      );
    }
    const shape = m.layers[key].shape as WeightShape;
    let indices: Uint32Array;
    try {
      indices = decodeIndices(t.data, shape[0] * shape[1]);
    } catch (e) {
      if (e instanceof IndexStreamError)
        throw new ConceptFileError('bad_indices', `${source}: ${key}: ${e.message}`);
      throw e;
    }
    if (indices.length !== m.layers[key].count) {
      throw new ConceptFileError(
        'bad_indices',
        `${source}: ${key}: stream holds ${indices.length} indices, metadata says ${m.layers[key].count}`,
      );
    }
    layers.push({ key, shape: [shape[0], shape[1]], indices });
    streams.set(key, { bytes: t.data.length, codec: peekIndexStream(t.data).codec });
  }
  let training: ConceptTrainingData | undefined;
  const instanceLatents = readLatents(file.tensors, INSTANCE_LATENTS, m.training_data?.instance_latents);
  const priorLatents = readLatents(file.tensors, PRIOR_LATENTS, m.training_data?.prior_latents);
  expectedTensors.add(INSTANCE_LATENTS).add(PRIOR_LATENTS);
  if (m.training_data && instanceLatents) {
    training = { instancePrompt: m.training_data.instance_prompt, instanceLatents };
    if (m.training_data.prior_prompt !== undefined) training.priorPrompt = m.training_data.prior_prompt;
    if (priorLatents) training.priorLatents = priorLatents;
  }
  for (const name of file.tensors.keys()) {
    if (!expectedTensors.has(name))
      throw new ConceptFileError('bad_indices', `${source}: unexpected tensor '${name}'`);
  }
  const {
    format: _f,
    version: _v,
    layers: _l,
    total_count: _t,
    total_parameters_in_scope: _p,
    training_data: _d,
    ...description
  } = m;
  return {
    description,
    layers,
    training,
    checksum: stored,
    file: { byteLength: bytes.length, sha256: sha256Hex(bytes), streams },
  };
}

/** Writes `concept` to `path` and returns it with checksum and file facts filled in. */
export async function saveConceptFile(
  path: string,
  concept: Concept,
  options: { includeTrainingData?: boolean } = {},
): Promise<Concept> {
  const encoded = encodeConcept(concept, options);
  await writeFile(path, encoded.bytes);
  return {
    ...concept,
    training: options.includeTrainingData === false ? undefined : concept.training,
    checksum: encoded.checksum,
    file: { byteLength: encoded.bytes.length, sha256: sha256Hex(encoded.bytes), streams: encoded.streams },
  };
}

/** Reads and decodes a concept file. Messages name it by `displayPath`: they reach HTTP clients. */
export async function loadConceptFile(path: string): Promise<Concept> {
  const name = displayPath(path);
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new ConceptFileError('unreadable', `${name}: ${(e as Error).message.replaceAll(path, name)}`);
  }
  return decodeConcept(new Uint8Array(bytes), name);
}

/** The content checksum, computing it (by encoding) for concepts made in memory. */
export function ensureChecksum(concept: Concept): string {
  if (!concept.checksum) concept.checksum = encodeConcept(concept).checksum;
  return concept.checksum;
}
