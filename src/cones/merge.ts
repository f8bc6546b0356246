/**
 * Tuning-free multi-concept merge (paper §3.2 "additivity"): the union of 2–4 concepts' neuron sets,
 * with the overlap statistics of the paper's Fig. 4 — shared neurons as a percentage of all concept
 * neurons of the group (100·|A∩B| / |A∪B|; the paper reports 2.42 % for a cat and a wooden pot).
 */
import { version as toolVersion } from '../shared/version.js';
import { type Concept, ConceptError, type ConceptLayer, conceptLabel } from './concept.js';
import { ensureChecksum } from './file.js';
import { shortWeightName } from './layers.js';
import type { OverlapStat } from './metadata-schema.js';

export interface GroupOverlap {
  /** Positions of the sources in the merge input. */
  sources: number[];
  shared: number;
  union: number;
  /** 100 · shared / union (0 when the union is empty). */
  percent: number;
}

export interface OverlapTable {
  /** Neurons of each source. */
  counts: number[];
  /** Size of the union of all sources. */
  union: number;
  /** Every pair, then (3+ sources) the all-way group. */
  groups: GroupOverlap[];
}

export interface MergeStats {
  labels: string[];
  total: OverlapTable;
  layers: Array<OverlapTable & { key: string }>;
}

function groupsFor(n: number): number[][] {
  const groups: number[][] = [];
  for (let a = 0; a < n; a++) for (let b = a + 1; b < n; b++) groups.push([a, b]);
  if (n > 2) groups.push(Array.from({ length: n }, (_, i) => i));
  return groups;
}

const percent = (shared: number, union: number) => (union === 0 ? 0 : (100 * shared) / union);

/** Union of sorted sets plus, per element, the bit mask of the sets holding it (k-way merge). */
function unionWithMasks(sets: Uint32Array[]): { union: Uint32Array; masks: Uint8Array } {
  const cursor = new Array<number>(sets.length).fill(0);
  const capacity = sets.reduce((s, a) => s + a.length, 0);
  const union = new Uint32Array(capacity);
  const masks = new Uint8Array(capacity);
  let n = 0;
  for (;;) {
    let min = Number.POSITIVE_INFINITY;
    for (let s = 0; s < sets.length; s++)
      if (cursor[s] < sets[s].length && sets[s][cursor[s]] < min) min = sets[s][cursor[s]];
    if (min === Number.POSITIVE_INFINITY) break;
    let mask = 0;
    for (let s = 0; s < sets.length; s++) {
      if (cursor[s] < sets[s].length && sets[s][cursor[s]] === min) {
        mask |= 1 << s;
        cursor[s]++;
      }
    }
    union[n] = min;
    masks[n] = mask;
    n++;
  }
  return { union: union.slice(0, n), masks: masks.subarray(0, n) };
}

/** The sorted union of sorted index sets (2–4 for merges; any number up to 8). */
export function unionOfSortedSets(sets: Uint32Array[]): Uint32Array {
  return unionWithMasks(sets).union;
}

function tableFromMasks(counts: number[], masks: Uint8Array): OverlapTable {
  // Histogram of masks (≤ 16 values for 4 sources) gives every group's intersection and union.
  const histogram = new Array<number>(16).fill(0);
  for (let i = 0; i < masks.length; i++) histogram[masks[i]]++;
  const groups = groupsFor(counts.length).map((sources) => {
    const bits = sources.reduce((m, s) => m | (1 << s), 0);
    let shared = 0;
    let union = 0;
    for (let mask = 1; mask < 16; mask++) {
      if ((mask & bits) === bits) shared += histogram[mask];
      if (mask & bits) union += histogram[mask];
    }
    return { sources, shared, union, percent: percent(shared, union) };
  });
  return { counts, union: masks.length, groups };
}

function sumTables(tables: OverlapTable[], n: number): OverlapTable {
  const counts = new Array<number>(n).fill(0);
  let union = 0;
  const groups = groupsFor(n).map((sources) => ({ sources, shared: 0, union: 0, percent: 0 }));
  for (const t of tables) {
    t.counts.forEach((c, i) => {
      counts[i] += c;
    });
    union += t.union;
    t.groups.forEach((g, i) => {
      groups[i].shared += g.shared;
      groups[i].union += g.union;
    });
  }
  for (const g of groups) g.percent = percent(g.shared, g.union);
  return { counts, union, groups };
}

/** Throws unless the concepts share base model, scope and weight shapes (message names both sides). */
export function checkMergeable(concepts: readonly Concept[]): void {
  if (concepts.length < 2 || concepts.length > 4) {
    throw new ConceptError(`merging needs 2 to 4 concepts, got ${concepts.length}`);
  }
  const [first, ...rest] = concepts;
  const a = first.description;
  for (const other of rest) {
    const b = other.description;
    if (a.base_model.fingerprint !== b.base_model.fingerprint) {
      throw new ConceptError(
        `cannot merge concepts made on different base models: "${conceptLabel(first)}" (model ${a.base_model.name ?? '?'}, fingerprint ${a.base_model.fingerprint}) and "${conceptLabel(other)}" (model ${b.base_model.name ?? '?'}, fingerprint ${b.base_model.fingerprint})`,
      );
    }
    if (a.scope !== b.scope) {
      throw new ConceptError(
        `cannot merge concepts with different scopes: "${conceptLabel(first)}" (${a.scope}) and "${conceptLabel(other)}" (${b.scope})`,
      );
    }
    for (let i = 0; i < first.layers.length; i++) {
      const la = first.layers[i];
      const lb = other.layers[i];
      if (!lb || la.key !== lb.key || la.shape[0] !== lb.shape[0] || la.shape[1] !== lb.shape[1]) {
        throw new ConceptError(
          `cannot merge "${conceptLabel(first)}" and "${conceptLabel(other)}": weight ${la.key} is [${la.shape}] in one and ${lb ? `[${lb.shape}]` : 'absent'} in the other`,
        );
      }
    }
  }
}

/** Overlap statistics of 2–4 concepts, per layer and over all layers. */
export function overlapStats(concepts: readonly Concept[]): MergeStats {
  checkMergeable(concepts);
  const layers = concepts[0].layers.map((layer, i) => {
    const sets = concepts.map((c) => c.layers[i].indices);
    const { masks } = unionWithMasks(sets);
    return {
      key: layer.key,
      ...tableFromMasks(
        sets.map((s) => s.length),
        masks,
      ),
    };
  });
  return { labels: concepts.map(conceptLabel), total: sumTables(layers, concepts.length), layers };
}

/** Union of 2–4 concepts' neurons, with the overlap statistics; the result records its sources. */
export function mergeConcepts(
  concepts: readonly Concept[],
  options: { created?: Date; refineSteps?: number } = {},
): { concept: Concept; stats: MergeStats } {
  checkMergeable(concepts);
  const stats = overlapStats(concepts);
  const layers: ConceptLayer[] = concepts[0].layers.map((layer, i) => ({
    key: layer.key,
    shape: [layer.shape[0], layer.shape[1]],
    indices: unionOfSortedSets(concepts.map((c) => c.layers[i].indices)),
  }));
  const d = concepts[0].description;
  const overlap: OverlapStat[] = stats.total.groups.map((g) => ({
    ...g,
    percent: Math.round(g.percent * 1e4) / 1e4,
  }));
  const concept: Concept = {
    description: {
      identifier: concepts.map((c) => c.description.identifier).join('+'),
      class_noun: concepts.map((c) => c.description.class_noun).join('+'),
      base_model: d.base_model,
      scope: d.scope,
      origin: {
        kind: 'merged',
        method: 'union',
        refine_steps: options.refineSteps ?? 0,
        sources: concepts.map((c) => ({
          identifier: c.description.identifier,
          class_noun: c.description.class_noun,
          checksum: ensureChecksum(c),
          total_count: c.layers.reduce((s, l) => s + l.indices.length, 0),
        })),
        overlap,
      },
      creator: { tool: 'cones-nodes', version: toolVersion },
      created: (options.created ?? new Date()).toISOString(),
    },
    layers,
  };
  return { concept, stats };
}

const letter = (i: number) => String.fromCharCode(65 + i);
const fmt = (n: number) => n.toLocaleString('en-US');
const groupName = (sources: number[]) => sources.map(letter).join('∩');

/** Human-readable statistics (the STRING output of Merge Concepts). */
export function formatMergeStats(stats: MergeStats, options: { perLayer?: boolean } = {}): string {
  const lines: string[] = [];
  const t = stats.total;
  lines.push(`Merged ${stats.labels.length} concepts by union: ${fmt(t.union)} concept neurons`);
  stats.labels.forEach((label, i) => {
    lines.push(`  ${letter(i)} = "${label}": ${fmt(t.counts[i])}`);
  });
  lines.push("Overlap (shared neurons as % of the group's union, as in the paper's Fig. 4):");
  for (const g of t.groups) {
    lines.push(
      `  ${groupName(g.sources).padEnd(8)} ${fmt(g.shared).padStart(10)} of ${fmt(g.union).padStart(10)}  ${g.percent.toFixed(2)}%`,
    );
  }
  if (options.perLayer !== false) {
    lines.push('Per layer (neurons per source | union | shared %):');
    for (const l of stats.layers) {
      if (l.union === 0) continue;
      const shared = l.groups.map((g) => `${groupName(g.sources)} ${g.percent.toFixed(1)}%`).join('  ');
      lines.push(
        `  ${shortWeightName(l.key).padEnd(16)} ${l.counts.map(fmt).join(' / ')} | ${fmt(l.union)} | ${shared}`,
      );
    }
  }
  return lines.join('\n');
}
