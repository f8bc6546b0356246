/**
 * Concept file nodes: Save Concept, Load Concept, Concept Info, Merge Concepts. The CONCEPT value on
 * their sockets is a `Concept` (src/cones/concept.ts). Extract Concept / Apply Concept Mask live with
 * the training graph, elsewhere.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { isAbsolute, join, resolve, sep } from 'node:path';
import { layerChartImage, layerChartPng } from '../cones/chart.js';
import type { Concept } from '../cones/concept.js';
import { carriedConcept, findCarried, findEmbeddedConcept } from '../cones/embed.js';
import { CONCEPT_EXTENSION, decodeConcept, encodeConcept, ensureChecksum } from '../cones/file.js';
import { conceptInfo, formatConceptInfo } from '../cones/info.js';
import { formatMergeStats, mergeConcepts } from '../cones/merge.js';
import { refineMergedConcept, refineProblem } from '../cones/refine.js';
import { saveImagePath } from '../image/save-path.js';
import { isSdModel } from '../sd/pipeline/values.js';
import { listRelativeFiles } from '../shared/list-files.js';
import { carriedByKey, carryFound, carryMade, decodeCarried } from './cones-carried.js';
import type { NodeDefinition, NodeEnvironment } from './types.js';

const CATEGORY = 'cones';

function conceptFolders(env: NodeEnvironment): string[] {
  return env.dirs.models.concepts ?? [];
}

/** Every `*.cones.safetensors` under the concept folders, as `sub/name.cones.safetensors`. */
export function listConceptFiles(env: NodeEnvironment): string[] {
  const names = new Set<string>();
  for (const root of conceptFolders(env))
    for (const name of listRelativeFiles(root, (file) => file.endsWith(CONCEPT_EXTENSION), { maxDepth: 8 }))
      names.add(name);
  return [...names].sort();
}

/** Problem with a concept name as a relative path (null when fine). */
function nameProblem(name: string): string | null {
  if (!name.endsWith(CONCEPT_EXTENSION)) return `concept name '${name}' must end with ${CONCEPT_EXTENSION}`;
  if (isAbsolute(name) || name.split(/[\\/]/).includes('..'))
    return `concept name '${name}' must stay inside models/concepts`;
  return null;
}

/** The existing file for a concept name, searching every concept folder in order. */
export function resolveConceptFile(name: string, env: NodeEnvironment): string | undefined {
  if (nameProblem(name)) return undefined;
  for (const root of conceptFolders(env)) {
    const base = resolve(root);
    const full = resolve(base, name);
    if (!full.startsWith(base + sep)) continue;
    if (existsSync(full) && statSync(full).isFile()) return full;
  }
  return undefined;
}

function asConcept(value: unknown, input: string): Concept {
  const c = value as Concept;
  if (!c || typeof c !== 'object' || !Array.isArray(c.layers) || !c.description) {
    throw new Error(`input '${input}' is not a CONCEPT`);
  }
  return c;
}

export const ConesSaveConcept: NodeDefinition = {
  name: 'ConesSaveConcept',
  displayName: 'Save Concept',
  category: CATEGORY,
  description: `Writes a concept to models/concepts as <prefix>_00001_${CONCEPT_EXTENSION} (a safetensors file of compressed neuron indices).`,
  inputs: {
    required: {
      concept: {
        type: 'CONCEPT',
        tooltip: 'The concept to save (a few hundred KB at most: only the neuron indices).',
      },
      filename_prefix: {
        type: 'STRING',
        default: 'concept',
        tooltip: 'File name prefix; may contain a subfolder (e.g. "dogs/sks").',
      },
    },
  },
  outputs: [],
  outputNode: true,
  async execute(inputs, ctx) {
    const concept = asConcept(inputs.concept, 'concept');
    const folder = conceptFolders(ctx.env)[0];
    if (!folder) throw new Error('no models/concepts folder is configured');
    await mkdir(folder, { recursive: true });
    let path: ReturnType<typeof saveImagePath>;
    try {
      path = saveImagePath(String(inputs.filename_prefix ?? 'concept'), folder);
    } catch {
      throw new Error(
        `Saving a concept outside models/concepts is not allowed (filename_prefix '${inputs.filename_prefix}').`,
      );
    }
    const filename = `${path.filename}_${String(path.counter).padStart(5, '0')}_${CONCEPT_EXTENSION}`;
    const encoded = encodeConcept(concept);
    await writeFile(join(path.folder, filename), encoded.bytes);
    const name = path.subfolder ? `${path.subfolder}/${filename}` : filename;
    ctx.log(`saved concept "${concept.description.identifier} ${concept.description.class_noun}" as ${name}`);
    return {
      outputs: [],
      ui: { concepts: [{ filename, subfolder: path.subfolder, type: 'concepts' }], text: [name] },
    };
  },
};

export const ConesLoadConcept: NodeDefinition = {
  name: 'ConesLoadConcept',
  displayName: 'Load Concept',
  category: CATEGORY,
  description:
    "Loads a concept from models/concepts. When the file is absent, uses the copy embedded in the workflow (workflow.extra.cones_concepts, or the node's _meta.cones_concept in an API prompt).",
  inputs: {
    required: {
      concept_name: {
        type: 'COMBO',
        options: listConceptFiles,
        // A workflow may carry the concept by value, so the name need not exist on this machine.
        allowUnlisted: true,
        tooltip: `A saved concept (${CONCEPT_EXTENSION} file in models/concepts). A workflow or PNG that carries the concept inside it works without the file.`,
      },
    },
    hidden: { prompt: 'PROMPT', extra_pnginfo: 'EXTRA_PNGINFO', unique_id: 'UNIQUE_ID' },
  },
  outputs: [{ type: 'CONCEPT', name: 'CONCEPT' }],
  validate(inputs) {
    return nameProblem(String(inputs.concept_name));
  },
  fingerprint(inputs, env, hidden) {
    const name = String(inputs.concept_name);
    const file = resolveConceptFile(name, env);
    if (file) {
      const s = statSync(file);
      return `${s.size}:${s.mtimeMs}`;
    }
    // An embedded copy is keyed by its content: two workflows may carry different files under one name.
    const found = findCarried(hidden, (entry) => entry.name === name);
    return found ? `embedded:${found.sha256}` : 'missing';
  },
  async execute(inputs, ctx) {
    const name = String(inputs.concept_name);
    const file = resolveConceptFile(name, ctx.env);
    if (file) {
      const bytes = new Uint8Array(await readFile(file));
      const concept = decodeConcept(bytes, name);
      ctx.carryConcept(carriedConcept(name, bytes));
      return { outputs: [concept] };
    }
    const embedded = findEmbeddedConcept(name, ctx.hidden);
    if (!embedded) {
      throw new Error(
        `concept '${name}' is not in models/concepts and the workflow carries no embedded copy of it (workflow.extra.cones_concepts)`,
      );
    }
    ctx.log(`concept '${name}' is not on disk; using the copy embedded in the workflow`);
    const concept = decodeConcept(embedded, `embedded concept '${name}'`);
    ctx.carryConcept(carriedConcept(name, embedded));
    return { outputs: [concept] };
  },
};

export const ConesConceptInfo: NodeDefinition = {
  name: 'ConesConceptInfo',
  displayName: 'Concept Info',
  category: CATEGORY,
  description: 'Neurons per layer, sparsity, size on disk and compression ratio, with a per-layer bar chart.',
  inputs: {
    required: {
      concept: {
        type: 'CONCEPT',
        tooltip: 'The concept to describe: neurons per layer, sparsity and file size.',
      },
    },
  },
  outputs: [
    { type: 'STRING', name: 'info' },
    { type: 'IMAGE', name: 'chart' },
  ],
  outputNode: true,
  async execute(inputs, ctx) {
    const info = conceptInfo(asConcept(inputs.concept, 'concept'));
    const text = formatConceptInfo(info);
    const chart = await layerChartImage(info);
    const preview = `cones_concept_info_${randomBytes(6).toString('hex')}.png`;
    await mkdir(ctx.env.dirs.temp, { recursive: true });
    await writeFile(join(ctx.env.dirs.temp, preview), await layerChartPng(info));
    return {
      outputs: [text, chart],
      ui: { text: [text], images: [{ filename: preview, subfolder: '', type: 'temp' }] },
    };
  },
};

export const MAX_REFINE_STEPS = 10000;

/** Content key of a merge refinement: the sources' checksums, the steps and the base model. */
function refineKey(concepts: readonly Concept[], steps: number, fingerprint: string): string {
  const sources = concepts.map((c) => ensureChecksum(c));
  return createHash('sha256')
    .update(JSON.stringify({ v: 1, sources, steps, fingerprint }))
    .digest('hex')
    .slice(0, 32);
}

export const ConesMergeConcepts: NodeDefinition = {
  name: 'ConesMergeConcepts',
  displayName: 'Merge Concepts',
  category: CATEGORY,
  description:
    "Union of 2–4 concepts' neurons (tuning-free multi-concept, paper §3.2) with the overlap statistics of the paper's Fig. 4.",
  inputs: {
    required: {
      concept_1: {
        type: 'CONCEPT',
        tooltip: 'The first subject to combine. Prompts name each subject by its own identifier.',
      },
      concept_2: {
        type: 'CONCEPT',
        tooltip: 'The second subject to combine. Prompts name each subject by its own identifier.',
      },
      refine_steps: {
        type: 'INT',
        default: 0,
        min: 0,
        max: MAX_REFINE_STEPS,
        tooltip:
          "How long to refine the merged concept so the subjects do not blur into each other when drawn together: training steps on all subjects' losses at once, allowed to change only neurons already in the union (paper §3.3). 0 = plain union, instant. Needs concepts saved with keep_training_data and the model input.",
      },
    },
    optional: {
      concept_3: {
        type: 'CONCEPT',
        tooltip: 'Optional third subject to combine. Prompts name each subject by its own identifier.',
      },
      concept_4: {
        type: 'CONCEPT',
        tooltip: 'Optional fourth subject to combine. Prompts name each subject by its own identifier.',
      },
      model: {
        type: 'MODEL',
        tooltip: 'The checkpoint the concepts were extracted from; needed only when refine_steps > 0.',
      },
    },
  },
  outputs: [
    { type: 'CONCEPT', name: 'CONCEPT' },
    { type: 'STRING', name: 'stats' },
  ],
  async execute(inputs, ctx) {
    const concepts = ['concept_1', 'concept_2', 'concept_3', 'concept_4']
      .filter((k) => inputs[k] !== undefined && inputs[k] !== null)
      .map((k) => asConcept(inputs[k], k));
    const steps = Number(inputs.refine_steps ?? 0);
    if (steps > 0) {
      if (!isSdModel(inputs.model))
        throw new Error(
          'refine_steps > 0 (merge refinement) needs the model input: the base MODEL the concepts were extracted from',
        );
      const problem = refineProblem(concepts);
      if (problem) throw new Error(problem);
      const { concept: union, stats } = mergeConcepts(concepts, { refineSteps: steps });
      const fingerprint = inputs.model.checkpoint.fingerprint;
      const key = refineKey(concepts, steps, fingerprint);
      const found = carriedByKey(ctx.hidden, key);
      let concept: Concept;
      let how: string;
      if (found) {
        concept = decodeCarried(found, fingerprint);
        carryFound(ctx, found, key);
        how = 'taken from the workflow, not refined again';
      } else {
        concept = (await refineMergedConcept(ctx, inputs.model, union, concepts, { steps })).concept;
        carryMade(ctx, concept, key, ['merged', ...concepts.map((c) => c.description.identifier)]);
        how = `refined in ${steps} steps`;
      }
      const kept = concept.layers.reduce((s, l) => s + l.indices.length, 0);
      const text = `${formatMergeStats(stats)}\n${how}: ${kept} of ${stats.total.union} union neurons kept`;
      return { outputs: [concept, text], ui: { text: [text] } };
    }
    const { concept, stats } = mergeConcepts(concepts);
    const text = formatMergeStats(stats);
    return { outputs: [concept, text], ui: { text: [text] } };
  },
};

export const conesFileNodes: NodeDefinition[] = [
  ConesSaveConcept,
  ConesLoadConcept,
  ConesConceptInfo,
  ConesMergeConcepts,
];
