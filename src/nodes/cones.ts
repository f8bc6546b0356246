/**
 * Extract Concept (Algorithm A2 on the UNet training graph, in a runtime worker) and Apply Concept
 * Mask (a MODEL with the concept's K/V mask appended). The concept file nodes (save, load, info, merge)
 * are in cones-files.ts.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { isAbsolute, join, resolve, sep } from 'node:path';
import { applyConceptMask } from '../cones/apply.js';
import type { Concept } from '../cones/concept.js';
import {
  CONES_TASKS,
  DEFAULT_EXTRACT_SETTINGS as D,
  DEFAULT_PROMPT_TEMPLATE,
  DEFAULT_ROUNDS,
  type ExtractPayload,
  type ExtractSettings,
  extractionHash,
  MAX_ROUNDS,
  PRIOR_CFG_RANGE,
  PRIOR_SAMPLING,
  settingsProblem,
  stepsText,
} from '../cones/extract/protocol.js';
import { CONCEPT_SCOPES, type ConceptScope } from '../cones/layers.js';
import { scaleImage } from '../image/resize.js';
import { decodeImage } from '../image/tensor-image.js';
import { isSdClip, isSdModel, isSdVae, type SdModel } from '../sd/pipeline/values.js';
import { assetPath } from '../shared/assets.js';
import { staysInside } from '../shared/contained-path.js';
import type { Tensor } from '../shared/types.js';
import { carriedByKey, carriedByRecipe, carryFound, carryMade, decodeCarried } from './cones-carried.js';
import { estimateLines, StepClock, type StepEstimate } from './step-estimate.js';
import type { NodeContext, NodeDefinition, NodeEnvironment, NodeResult } from './types.js';

const CATEGORY = 'cones';
const SCOPE_OPTIONS = ['cross-attention K/V', 'all attention K/V'] as const;

/** Where extraction checkpoints, finished results and generated priors live for this data folder. */
export function conesCacheDir(env: NodeEnvironment): string {
  return join(env.dirs.root, 'cache', 'cones');
}

function requireImage(value: unknown, input: string, max: number): Tensor {
  const t = value as Tensor | undefined;
  if (!t || !(t.data instanceof Float32Array) || t.shape?.length !== 4)
    throw new Error(`${input} must be an IMAGE ([B, H, W, C])`);
  if (t.shape[0] < 1 || t.shape[0] > max)
    throw new Error(`${input} must hold 1–${max} images, got ${t.shape[0]}`);
  return t;
}

function asConcept(value: unknown, input: string): Concept {
  const c = value as Concept;
  if (!c || typeof c !== 'object' || !Array.isArray(c.layers) || !c.description)
    throw new Error(`input '${input}' is not a CONCEPT`);
  return c;
}

export function extractSettingsFromInputs(inputs: Record<string, unknown>): ExtractSettings {
  const num = (k: string, d: number) => (inputs[k] === undefined ? d : Number(inputs[k]));
  return {
    steps: num('steps', D.steps),
    learningRate: num('learning_rate', D.learningRate),
    selection: (inputs.selection ?? D.selection) as ExtractSettings['selection'],
    topFraction: num('top_fraction', D.topFraction),
    threshold: num('threshold', D.threshold),
    scope: (inputs.scope ?? D.scope) as ConceptScope,
    batchSize: num('batch_size', D.batchSize),
    priorLossWeight: num('prior_loss_weight', D.priorLossWeight),
    priorCount: num('prior_count', D.priorCount),
    resolution: num('resolution', D.resolution),
    seed: num('seed', D.seed),
    hflip: inputs.hflip === undefined ? D.hflip : Boolean(inputs.hflip),
    // Absent and 1 are the same extraction (the paper's A2) with the same cache key.
    ...(inputs.rounds === undefined || Number(inputs.rounds) === DEFAULT_ROUNDS
      ? {}
      : { rounds: Number(inputs.rounds) }),
    ...(inputs.prompt_template === undefined || inputs.prompt_template === DEFAULT_PROMPT_TEMPLATE
      ? {}
      : { promptTemplate: String(inputs.prompt_template) }),
    ...(inputs.prior_cfg === undefined || Number(inputs.prior_cfg) === PRIOR_SAMPLING.cfg
      ? {}
      : { priorCfg: Number(inputs.prior_cfg) }),
  };
}

function neuronCount(concept: Concept): number {
  return concept.layers.reduce((s, l) => s + l.indices.length, 0);
}

/** Whether a linked photo input arrived empty: its loader was left out of the run (`dispensableInputs`). */
function photosLeftOut(inputs: Record<string, unknown>, ctx: NodeContext): boolean {
  const node = ctx.hidden.prompt[ctx.hidden.uniqueId] as { inputs?: Record<string, unknown> } | undefined;
  return ['images', 'prior_images'].some(
    (name) => Array.isArray(node?.inputs?.[name]) && (inputs[name] === undefined || inputs[name] === null),
  );
}

/** Extract Concept without its photos: the concept the workflow carries for this node's recipe. */
function carriedExtraction(model: SdModel, ctx: NodeContext): NodeResult {
  const found = carriedByRecipe(ctx.hidden);
  if (!found)
    throw new Error(
      'images is missing (the subject photos were not loaded) and the workflow carries no concept made by this node',
    );
  const concept = decodeCarried(found, model.checkpoint.fingerprint);
  carryFound(ctx, found, found.key ?? '');
  const text = `used the concept carried in the workflow (extraction ${found.key}): ${neuronCount(concept)} concept neurons; the subject photos were not needed`;
  ctx.log(`cones: ${text}`);
  return { outputs: [concept], ui: { text: [text] } };
}

export const ConesExtractConcept: NodeDefinition = {
  name: 'ConesExtractConcept',
  displayName: 'Extract Concept',
  category: CATEGORY,
  description:
    'Finds the concept neurons of a subject (Cones, Algorithm A2): K steps of gradient descent on a multiplicative mask ξ over the attention K/V weights, then M_p = (1 − ξ)/ρ; neurons with M_p > τ (or the top fraction) form the concept. Finished results are cached on disk; an interrupted run resumes where it stopped. Every image and workflow the run writes carries the concept, so opened elsewhere it runs without extracting again, even without the photos.',
  searchAliases: ['cones', 'concept neurons', 'subject'],
  inputs: {
    required: {
      model: {
        type: 'MODEL',
        tooltip: 'The checkpoint whose neurons are searched; the concept only works on this checkpoint.',
      },
      clip: {
        type: 'CLIP',
        tooltip: "The same checkpoint's text encoder (turns the training prompts into conditioning).",
      },
      vae: {
        type: 'VAE',
        tooltip: "The same checkpoint's VAE (encodes the photos into latents for training).",
      },
      images: {
        type: 'IMAGE',
        tooltip:
          'Photos of the one subject to learn (1–20; the paper uses 3–5). Varied poses and backgrounds help the concept carry the subject rather than one photo.',
      },
      identifier: {
        type: 'STRING',
        default: 'sks',
        tooltip:
          'The made-up word that will mean this subject. Write it in prompts next to the class noun ("a photo of a sks dog") to draw the subject; prompts without it draw as before. Pick a rare token so it carries no meaning of its own.',
      },
      class_noun: {
        type: 'STRING',
        default: 'dog',
        tooltip:
          'What kind of thing the subject is ("dog", "teapot"). The base model\'s idea of this class is kept (prior preservation), and prompts should name it after the identifier.',
      },
      prior_count: {
        type: 'INT',
        default: D.priorCount,
        min: 0,
        max: 200,
        tooltip:
          'How many pictures of "photo of a {class}" the base model draws first (when no prior images are connected; cached) so the concept keeps the class looking as before. More protects the class better but costs one generation each; 0 turns prior preservation off.',
      },
      steps: {
        type: 'INT',
        default: D.steps,
        min: 1,
        max: 100000,
        tooltip:
          "How long to train (K): each step looks at one batch of photos and nudges every neuron's score. More steps give a cleaner, more faithful concept; time grows linearly (one step ≈ 3–4 forward passes of the UNet).",
      },
      learning_rate: {
        type: 'FLOAT',
        default: D.learningRate,
        min: 1e-9,
        max: 100,
        step: 1e-6,
        round: false,
        tooltip:
          'How far each step moves the neuron scores (ρ). The scores are divided by it again at the end (M = (1 − ξ)/ρ), so it mainly sets how far the scores travel from the start; the paper uses 2e-5.',
      },
      selection: {
        type: 'COMBO',
        options: ['top_fraction', 'threshold'],
        default: D.selection,
        tooltip:
          "How the neurons are chosen from their scores: top_fraction keeps a fixed share of the searched weights (predictable size), threshold keeps every weight scoring above τ (the paper's rule).",
      },
      top_fraction: {
        type: 'FLOAT',
        default: D.topFraction,
        min: 1e-6,
        max: 1,
        step: 0.001,
        round: false,
        tooltip:
          "With selection = top_fraction: the share of the searched weights that become the concept (0.01 = the 1 % with the highest scores). Larger keeps more of the subject's detail but disturbs the rest of the model more and makes a bigger file.",
      },
      threshold: {
        type: 'FLOAT',
        default: D.threshold,
        min: -1e9,
        max: 1e9,
        step: 0.01,
        round: false,
        tooltip:
          'With selection = threshold: a weight joins the concept when its score is above this value (τ, neurons with M_p > τ). Lower takes more neurons.',
      },
      scope: {
        type: 'COMBO',
        options: [...SCOPE_OPTIONS],
        default: D.scope,
        tooltip:
          "Which weights are searched: the K/V projections of the text cross-attention (the paper's choice, tied to the prompt words) or of every attention layer (more places to store the subject, slower and bigger files).",
      },
      batch_size: {
        type: 'INT',
        default: D.batchSize,
        min: 1,
        max: 16,
        tooltip:
          'Subject photos per step (and as many class-prior pictures). Larger averages out noise per step but each step takes proportionally longer and needs more memory.',
      },
      prior_loss_weight: {
        type: 'FLOAT',
        default: D.priorLossWeight,
        min: 0,
        max: 100,
        step: 0.1,
        tooltip:
          'How much keeping the class as it was counts against learning the subject (λ). Higher keeps other dogs looking like dogs; lower lets the subject take over the class word.',
      },
      resolution: {
        type: 'INT',
        default: D.resolution,
        min: 64,
        max: 2048,
        step: 8,
        tooltip:
          'Side in pixels the photos are trained at (centre-cropped and resized). Use the size the checkpoint draws at (512 for SD1.x); smaller trains faster but the concept learns less detail.',
      },
      seed: {
        type: 'INT',
        default: D.seed,
        min: 0,
        max: 2 ** 53 - 1,
        controlAfterGenerate: true,
        tooltip:
          'Picks the noise, timesteps and flips of every training step. The same seed and inputs give the identical concept (and reuse the cached result); a new seed trains again from scratch.',
      },
      hflip: {
        type: 'BOOLEAN',
        default: D.hflip,
        tooltip:
          'Mirror each subject photo at random, so the concept does not learn which way the subject faces.',
      },
      keep_training_data: {
        type: 'BOOLEAN',
        default: false,
        tooltip:
          'Store the encoded training photos and prompts inside the concept file, so Merge Concepts can later refine a union of concepts (refine_steps > 0). Makes the file larger.',
      },
    },
    optional: {
      prior_images: {
        type: 'IMAGE',
        tooltip:
          'Your own photos of the class (other dogs, not the subject) for prior preservation; when connected, prior_count pictures are not generated.',
      },
      rounds: {
        type: 'INT',
        default: DEFAULT_ROUNDS,
        min: 1,
        max: MAX_ROUNDS,
        tooltip:
          "Repeated extraction after shutting. 1 = the paper's algorithm: one run of `steps`, then the top fraction (or every score above τ) at once. With N > 1 the run is split into N rounds of `steps` each; every round starts again from the model with the earlier rounds' neurons shut and adds its own 1/N of the top fraction (or the neurons above τ). On small models, where shutting 1 % at once overshoots, rounds keep the concept closer to the subject and disturb the rest less; time grows N-fold.",
      },
      prompt_template: {
        type: 'STRING',
        default: DEFAULT_PROMPT_TEMPLATE,
        multiline: false,
        tooltip:
          'The training prompt, with {identifier} and {class} in it; the prior prompt is the same without the identifier. Keep the paper\'s "photo of a {identifier} {class}" unless your model was trained on another caption style; then write the prompt the way its captions read (the demo model: "a photo of a {identifier} {class}", which with prior_cfg 1 and rounds 10 brings its subjects out; docs/cones-toy-eval.md).',
      },
      prior_cfg: {
        type: 'FLOAT',
        default: PRIOR_SAMPLING.cfg,
        min: PRIOR_CFG_RANGE.min,
        max: PRIOR_CFG_RANGE.max,
        step: 0.5,
        tooltip:
          "Guidance scale of the prior images generated from the base model (when prior_images is not connected). 7.5 as DreamBooth; 1 makes them the model's own unguided samples, which the training loss (unguided) already matches.",
      },
    },
  },
  outputs: [{ type: 'CONCEPT', name: 'CONCEPT' }],
  validate(inputs) {
    if (!CONCEPT_SCOPES.includes(inputs.scope as ConceptScope)) return `unknown scope '${inputs.scope}'`;
    return settingsProblem(extractSettingsFromInputs(inputs));
  },
  // A workflow carrying this node's concept runs without the photos (and their files).
  dispensableInputs(_inputs, hidden) {
    return carriedByRecipe(hidden) ? ['images', 'prior_images'] : [];
  },
  fingerprint(_inputs, _env, hidden) {
    const found = carriedByRecipe(hidden);
    return found ? `carried:${found.sha256}` : '';
  },
  async execute(inputs, ctx) {
    const model = inputs.model;
    if (!isSdModel(model)) throw new Error('model must be a MODEL from a checkpoint loader');
    if (!isSdClip(inputs.clip) || !isSdVae(inputs.vae))
      throw new Error('clip and vae must come from a checkpoint loader');
    if (
      inputs.clip.checkpoint.fingerprint !== model.checkpoint.fingerprint ||
      inputs.vae.checkpoint.fingerprint !== model.checkpoint.fingerprint
    )
      throw new Error(
        'model, clip and vae must come from the same checkpoint (extraction trains them as one model)',
      );
    if (model.patches.length > 0)
      ctx.log('cones: the MODEL carries patches; extraction runs on the base weights');
    const settings = extractSettingsFromInputs(inputs);
    const problem = settingsProblem(settings);
    if (problem) throw new Error(problem);
    const identifier = String(inputs.identifier ?? '').trim();
    const classNoun = String(inputs.class_noun ?? '').trim();
    if (!identifier || !classNoun) throw new Error('identifier and class_noun must not be empty');
    if (photosLeftOut(inputs, ctx)) return carriedExtraction(model, ctx);
    const payload: ExtractPayload = {
      checkpoint: model.checkpoint,
      images: requireImage(inputs.images, 'images', 20),
      priorImages:
        inputs.prior_images === undefined || inputs.prior_images === null
          ? undefined
          : requireImage(inputs.prior_images, 'prior_images', 1000),
      identifier,
      classNoun,
      settings,
      keepTrainingData: Boolean(inputs.keep_training_data),
      cacheDir: conesCacheDir(ctx.env),
    };
    const key = extractionHash(payload);
    const found = carriedByKey(ctx.hidden, key);
    if (found) {
      const concept = decodeCarried(found, model.checkpoint.fingerprint);
      carryFound(ctx, found, key);
      const text = `used the concept carried in the workflow (extraction ${key}): ${neuronCount(concept)} concept neurons, not extracted again`;
      ctx.log(`cones: ${text}`);
      return { outputs: [concept], ui: { text: [text] } };
    }
    const clock = new StepClock();
    let estimateLogged = false;
    const result = await ctx.runtime.call(CONES_TASKS.extract, payload, {
      signal: ctx.signal,
      onProgress: (p) => {
        ctx.progress(p.value, p.max);
        // Training steps carry their loss (prior sampling reports progress too, without it).
        if (p.metrics?.loss === undefined) return;
        const estimate = clock.stepDone(p.value, p.max);
        if (estimate && !estimateLogged) {
          estimateLogged = true;
          for (const line of estimateLines('cones: extraction estimate', estimate, p.max)) ctx.log(line);
        }
        // Each training step's loss and the time left, as data for front ends (the extension draws the curve).
        ctx.sendEvent('cones.loss', {
          step: p.value,
          steps: p.max,
          loss: p.metrics.loss,
          ...(estimate && estimateFields(estimate)),
        });
      },
    });
    carryMade(ctx, result.concept, result.hash, [identifier, classNoun]);
    const total = neuronCount(result.concept);
    const text = result.cached
      ? `reused cached extraction ${result.hash}: ${total} concept neurons`
      : `extracted ${total} concept neurons in ${stepsText(settings.steps, settings.rounds)}${result.resumedFrom > 0 ? ` (resumed at step ${result.resumedFrom})` : ''}`;
    ctx.log(`cones: ${text}`);
    return { outputs: [result.concept], ui: { text: [text] } };
  },
};

/** `cones.loss` event fields of an estimate (`step_s`, `eta_s`: seconds, in the native schema). */
function estimateFields(estimate: StepEstimate): { step_s: number; eta_s: number } {
  return {
    step_s: Math.round(estimate.stepSeconds * 1000) / 1000,
    eta_s: Math.round(estimate.remainingSeconds * 10) / 10,
  };
}

export const ConesApplyConceptMask: NodeDefinition = {
  name: 'ConesApplyConceptMask',
  displayName: 'Apply Concept Mask',
  category: CATEGORY,
  description:
    "Shuts the concept's neurons in the model (w ← w·(1 − strength) at the concept's K/V entries). Non-destructive: returns a patched MODEL; the base weights and sessions are untouched.",
  searchAliases: ['cones', 'concept'],
  inputs: {
    required: {
      model: {
        type: 'MODEL',
        tooltip: 'The checkpoint to draw with: the one the concept was extracted from.',
      },
      concept: {
        type: 'CONCEPT',
        tooltip: 'The subject to switch on; then name its identifier in the prompt ("a photo of a sks dog").',
      },
      strength: {
        type: 'FLOAT',
        default: 1,
        min: 0,
        max: 1,
        step: 0.01,
        tooltip:
          "How strongly the subject is switched on: 1 shuts the concept's neurons fully as in the paper; between 0 and 1 scales those weights by 1 − strength (a blend between the base model and the subject).",
      },
      allow_mismatch: {
        type: 'BOOLEAN',
        default: false,
        tooltip:
          'A concept only means something on the checkpoint it was extracted from; turn this on to apply it to another model anyway (results are unpredictable).',
      },
    },
  },
  outputs: [{ type: 'MODEL', name: 'MODEL' }],
  async execute(inputs) {
    const model = inputs.model;
    if (!isSdModel(model)) throw new Error('model must be a MODEL from a checkpoint loader');
    const patched: SdModel = applyConceptMask(model, asConcept(inputs.concept, 'concept'), {
      strength: Number(inputs.strength ?? 1),
      allowMismatch: Boolean(inputs.allow_mismatch),
    });
    return { outputs: [patched] };
  },
};

const IMAGE_FILE = /\.(png|jpe?g|webp)$/i;

/** The sample subjects shipped in examples/subjects (usable on a fresh clone); undefined when not shipped. */
function builtInSubjectsDir(): string | undefined {
  try {
    const dir = assetPath('..', 'examples', 'subjects');
    return existsSync(dir) ? dir : undefined;
  } catch {
    return undefined;
  }
}

function subfolders(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
      .filter((e) => readdirSync(join(dir, e.name)).some((f) => IMAGE_FILE.test(f)))
      .map((e) => e.name);
  } catch {
    return [];
  }
}

function listSubjects(env: NodeEnvironment): string[] {
  const builtIn = builtInSubjectsDir();
  return [...new Set([...subfolders(env.dirs.input), ...(builtIn ? subfolders(builtIn) : [])])].sort();
}

/** input/<subject>, or the shipped sample of that name; undefined when neither exists. */
export function resolveSubjectFolder(subject: string, env: NodeEnvironment): string | undefined {
  if (!subject || isAbsolute(subject) || subject.split(/[\\/]/).includes('..')) return undefined;
  for (const root of [env.dirs.input, builtInSubjectsDir()]) {
    if (!root) continue;
    const base = resolve(root);
    const dir = resolve(base, subject);
    if (!dir.startsWith(base + sep) || !staysInside(base, dir)) continue;
    if (existsSync(dir) && statSync(dir).isDirectory()) return dir;
  }
  return undefined;
}

/** The subject's photos; a link leading out of the subject folder is skipped, as input/ must not lead elsewhere. */
function subjectFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => IMAGE_FILE.test(f))
    .sort()
    .map((f) => join(dir, f))
    .filter((file) => staysInside(dir, file));
}

export const ConesLoadSubjectImages: NodeDefinition = {
  name: 'ConesLoadSubjectImages',
  displayName: 'Load Subject Photos',
  category: CATEGORY,
  description:
    'Loads every photo in a folder of input/ (or a shipped sample subject) as one IMAGE batch, each centre-cropped and resized to size×size, for Extract Concept.',
  inputs: {
    required: {
      subject: {
        type: 'COMBO',
        options: listSubjects,
        allowUnlisted: true,
        tooltip: 'A subfolder of input/ holding 1–20 photos (PNG, JPEG, WebP).',
      },
      size: {
        type: 'INT',
        default: 512,
        min: 64,
        max: 2048,
        step: 8,
        tooltip:
          "Side in pixels each photo is centre-cropped and resized to; match Extract Concept's resolution.",
      },
    },
  },
  outputs: [{ type: 'IMAGE', name: 'IMAGE' }],
  validate(inputs, env) {
    const dir = resolveSubjectFolder(String(inputs.subject ?? ''), env);
    if (!dir) return `subject folder '${inputs.subject}' is not in input/ (nor a shipped sample)`;
    const n = subjectFiles(dir).length;
    if (n < 1 || n > 20)
      return `subject folder '${inputs.subject}' holds ${n} photos; Extract Concept takes 1–20`;
    return null;
  },
  fingerprint(inputs, env) {
    const dir = resolveSubjectFolder(String(inputs.subject ?? ''), env);
    if (!dir) return 'missing';
    return subjectFiles(dir)
      .map((f) => {
        const st = statSync(f);
        return `${f}:${st.size}:${st.mtimeMs}`;
      })
      .join('|');
  },
  async execute(inputs, ctx) {
    const dir = resolveSubjectFolder(String(inputs.subject ?? ''), ctx.env);
    if (!dir) throw new Error(`subject folder '${inputs.subject}' is not in input/`);
    const size = Number(inputs.size ?? 512);
    const files = subjectFiles(dir);
    const out = new Float32Array(files.length * size * size * 3);
    for (let i = 0; i < files.length; i++) {
      ctx.checkInterrupt();
      const { image } = await decodeImage(await readFile(files[i]));
      const sized = await scaleImage(image, 'bilinear', size, size, 'center');
      out.set(sized.data, i * size * size * 3);
    }
    return { outputs: [{ data: out, shape: [files.length, size, size, 3] }] };
  },
};

export const conesNodes: NodeDefinition[] = [
  ConesLoadSubjectImages,
  ConesExtractConcept,
  ConesApplyConceptMask,
];
