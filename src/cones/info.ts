/** Concept info: counts per layer, sparsity, bytes on disk and compression ratio (node + CLI). */
import { type Concept, conceptLabel, numel, totalCount, totalParameters } from './concept.js';
import { stepsText } from './extract/protocol.js';
import { encodeConcept } from './file.js';
import { parseKvWeightKey, shortWeightName } from './layers.js';

export interface LayerInfo {
  key: string;
  /** e.g. `in1 attn2.k`. */
  name: string;
  /** LDM module of its transformer (`input_blocks.1.1`, `middle_block.1`, …); '' for a non-K/V key. */
  module: string;
  shape: [number, number];
  count: number;
  /** count / elements. */
  density: number;
  streamBytes: number;
  codec: string;
}

export interface ConceptInfo {
  label: string;
  identifier: string;
  classNoun: string;
  scope: string;
  baseModel: { fingerprint: string; name?: string };
  origin: string;
  created: string;
  creator: string;
  checksum: string;
  totalCount: number;
  totalParameters: number;
  /** totalCount / totalParameters. */
  density: number;
  /** Size of the file (as read, or as it would be written). */
  fileBytes: number;
  /** Sum of the encoded index streams. */
  indexBytes: number;
  /** 4 bytes per index, the plain int32 list. */
  int32Bytes: number;
  /** int32Bytes / fileBytes. */
  compressionRatio: number;
  /** indexBytes / totalCount (0 when empty). */
  bytesPerIndex: number;
  trainingData: boolean;
  /** Merged concepts: the sources and their total overlap (shared % of the union, Fig. 4). */
  sources?: Array<{ label: string; count: number; checksum: string }>;
  overlap?: Array<{ sources: number[]; shared: number; union: number; percent: number }>;
  layers: LayerInfo[];
}

export function conceptInfo(concept: Concept): ConceptInfo {
  let file = concept.file;
  let checksum = concept.checksum;
  if (!file) {
    const encoded = encodeConcept(concept);
    file = { byteLength: encoded.bytes.length, sha256: '', streams: encoded.streams };
    checksum = encoded.checksum;
  }
  const d = concept.description;
  const layers: LayerInfo[] = concept.layers.map((l) => {
    const stream = file.streams.get(l.key);
    return {
      key: l.key,
      name: shortWeightName(l.key),
      module: parseKvWeightKey(l.key)?.module ?? '',
      shape: [l.shape[0], l.shape[1]],
      count: l.indices.length,
      density: l.indices.length / numel(l),
      streamBytes: stream?.bytes ?? 0,
      codec: stream?.codec ?? '?',
    };
  });
  const total = totalCount(concept);
  const params = totalParameters(concept);
  const indexBytes = layers.reduce((s, l) => s + l.streamBytes, 0);
  const origin =
    d.origin.kind === 'merged'
      ? `merged (union of ${d.origin.sources.length}${d.origin.refine_steps > 0 ? `, refined ${d.origin.refine_steps} steps` : ''})`
      : `extracted (${stepsText(d.origin.hyper_parameters.steps, roundsOf(d.origin.hyper_parameters))}, lr ${d.origin.hyper_parameters.learning_rate}, ${
          d.origin.hyper_parameters.selection === 'top_fraction'
            ? `top ${(100 * (d.origin.hyper_parameters.top_fraction ?? 0)).toPrecision(3)}%`
            : `τ = ${d.origin.hyper_parameters.threshold}`
        })`;
  return {
    label: conceptLabel(concept),
    identifier: d.identifier,
    classNoun: d.class_noun,
    scope: d.scope,
    baseModel: {
      fingerprint: d.base_model.fingerprint,
      ...(d.base_model.name ? { name: d.base_model.name } : {}),
    },
    origin,
    created: d.created,
    creator: `${d.creator.tool} ${d.creator.version}`,
    checksum: checksum ?? '',
    totalCount: total,
    totalParameters: params,
    density: total / params,
    fileBytes: file.byteLength,
    indexBytes,
    int32Bytes: 4 * total,
    compressionRatio: file.byteLength === 0 ? 0 : (4 * total) / file.byteLength,
    bytesPerIndex: total === 0 ? 0 : indexBytes / total,
    trainingData: concept.training !== undefined,
    ...(d.origin.kind === 'merged'
      ? {
          sources: d.origin.sources.map((src) => ({
            label: `${src.identifier} ${src.class_noun}`,
            count: src.total_count,
            checksum: src.checksum,
          })),
          overlap: d.origin.overlap,
        }
      : {}),
    layers,
  };
}

const fmt = (n: number) => n.toLocaleString('en-US');
const pct = (x: number) => `${(100 * x).toPrecision(3)}%`;

export function formatConceptInfo(info: ConceptInfo): string {
  const lines = [
    `Concept "${info.label}" (identifier ${info.identifier}, class ${info.classNoun})`,
    `  base model   ${info.baseModel.name ? `${info.baseModel.name}, ` : ''}fingerprint ${info.baseModel.fingerprint}`,
    `  scope        ${info.scope}`,
    `  origin       ${info.origin}`,
    `  neurons      ${fmt(info.totalCount)} of ${fmt(info.totalParameters)} parameters in scope (${pct(info.density)})`,
    `  on disk      ${fmt(info.fileBytes)} bytes (index streams ${fmt(info.indexBytes)}, ${info.bytesPerIndex.toFixed(3)} bytes/index)`,
    `  vs int32     ${fmt(info.int32Bytes)} bytes → ${info.compressionRatio.toFixed(2)}× smaller`,
    `  created      ${info.created} by ${info.creator}`,
    `  checksum     ${info.checksum}`,
    `  training data ${info.trainingData ? 'kept' : 'not kept'}`,
  ];
  info.sources?.forEach((src, i) => {
    lines.push(`  source ${String.fromCharCode(65 + i)}     "${src.label}": ${fmt(src.count)} neurons`);
  });
  for (const g of info.overlap ?? []) {
    const name = g.sources.map((i) => String.fromCharCode(65 + i)).join('∩');
    lines.push(
      `  overlap ${name.padEnd(7)} ${fmt(g.shared)} shared of ${fmt(g.union)} (${g.percent.toFixed(2)}%)`,
    );
  }
  lines.push(
    'Per layer:',
    `  ${'weight'.padEnd(16)} ${'shape'.padEnd(11)} ${'neurons'.padStart(9)} ${'density'.padStart(8)} ${'bytes'.padStart(8)}  codec`,
  );
  for (const l of info.layers) {
    lines.push(
      `  ${l.name.padEnd(16)} ${`${l.shape[0]}×${l.shape[1]}`.padEnd(11)} ${fmt(l.count).padStart(9)} ${pct(l.density).padStart(8)} ${fmt(l.streamBytes).padStart(8)}  ${l.codec}`,
    );
  }
  return lines.join('\n');
}

/** The JSON shape printed by `concept info --json`. */
export function conceptInfoJson(info: ConceptInfo): Record<string, unknown> {
  return { ...info };
}

/** hyper_parameters.rounds of a concept from repeated extraction (files from other tools may lack it). */
function roundsOf(h: { [key: string]: unknown }): number | undefined {
  return typeof h.rounds === 'number' ? h.rounds : undefined;
}
