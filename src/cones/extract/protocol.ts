/**
 * Payloads of the Cones worker tasks (src/cones/tasks.ts) and the extraction settings with their
 * defaults and checks. Safe to import on the main thread (no ONNX).
 */
import { createHash } from 'node:crypto';
import type { CheckpointHandle } from '../../sd/pipeline/values.js';
import type { TaskSpec } from '../../shared/tasks.js';
import type { Tensor } from '../../shared/types.js';
import type { Concept } from '../concept.js';
import type { ConceptScope } from '../layers.js';

export const CONES_TASKS = {
  extract: 'cones.extract',
  refine: 'cones.refine',
} as const;

/** Bump when a change to extraction changes its result for the same inputs (invalidates cached results). */
export const EXTRACTION_VERSION = 1;

export interface ExtractSettings {
  steps: number;
  learningRate: number;
  selection: 'top_fraction' | 'threshold';
  topFraction: number;
  threshold: number;
  scope: ConceptScope;
  /** Instance samples per step (the same number of prior samples). */
  batchSize: number;
  priorLossWeight: number;
  /** Prior images generated with the base model when none are given (0: no prior loss). */
  priorCount: number;
  resolution: number;
  seed: number;
  hflip: boolean;
  /**
   * Repeated extraction after shutting (absent = 1, the paper's A2): round r runs `steps` A2 steps with
   * the neurons of rounds 1..r−1 shut (ξ held at 0) and adds its own share — top_fraction / rounds of
   * the scope, or M_p > τ — among the rest, so each round's first-order ranking is taken at the model it
   * will change. Extract Concept's optional `rounds` input; the Cones evaluation (issue #12) explores it.
   */
  rounds?: number;
  /**
   * The instance prompt with `{identifier}` and `{class}` in it (absent = DEFAULT_PROMPT_TEMPLATE, the
   * paper's "photo of a sks dog"); the prior prompt is the same with the identifier left out. A model
   * whose captions follow another template (the toy world's "a photo of a …") can be met on its own terms.
   */
  promptTemplate?: string;
  /** Guidance scale of the generated prior images (absent = PRIOR_SAMPLING.cfg). */
  priorCfg?: number;
}

export const DEFAULT_EXTRACT_SETTINGS: ExtractSettings = {
  steps: 1000,
  learningRate: 2e-5,
  selection: 'top_fraction',
  topFraction: 0.01,
  threshold: 0.1,
  scope: 'cross-attention K/V',
  batchSize: 1,
  priorLossWeight: 1,
  priorCount: 8,
  resolution: 512,
  seed: 0,
  hflip: true,
};

/** Prior generation with the base model: fixed sampler settings (part of the prior cache key). */
export const PRIOR_SAMPLING = { steps: 20, cfg: 7.5, sampler: 'euler', scheduler: 'normal' } as const;

export interface ExtractPayload {
  checkpoint: CheckpointHandle;
  /** IMAGE [N, H, W, C] in 0..1, 1–20 photos of the subject. */
  images: Tensor;
  priorImages?: Tensor;
  identifier: string;
  classNoun: string;
  settings: ExtractSettings;
  keepTrainingData: boolean;
  /** `<data dir>/cache/cones`. */
  cacheDir: string;
  /** Save ξ every this many steps (default 50); does not change the result. */
  checkpointEvery?: number;
  /** Also return the final ξ (checks, benchmarks). */
  returnXi?: boolean;
  /** Ignore a cached result (never written back differently: the result is deterministic). */
  noResultCache?: boolean;
}

export interface ExtractResult {
  concept: Concept;
  /** The extraction's input hash (cache key). */
  hash: string;
  /** True when served from the result cache. */
  cached: boolean;
  /** Step losses (empty when cached). */
  losses: number[];
  /** First step run in this call (> 0 after a resume). */
  resumedFrom: number;
  xi?: Record<string, Float64Array>;
}

export interface RefineSettings {
  steps: number;
  learningRate: number;
  /** Keep union neurons with M_p > τ (default 0: those whose shutting still lowers the summed loss). */
  threshold: number;
  batchSize: number;
  priorLossWeight: number;
  seed: number;
}

export const DEFAULT_REFINE_SETTINGS: Omit<RefineSettings, 'steps'> = {
  learningRate: 2e-5,
  threshold: 0,
  batchSize: 1,
  priorLossWeight: 1,
  seed: 0,
};

export interface RefinePayload {
  checkpoint: CheckpointHandle;
  /** The plain union (mergeConcepts). */
  merged: Concept;
  /** The sources, each with its kept training data. */
  sources: readonly Concept[];
  settings: RefineSettings;
  returnXi?: boolean;
}

export interface RefineResult {
  concept: Concept;
  losses: number[];
  xi?: Record<string, Float64Array>;
}

/** The Cones family's part of the runtime task map (src/runtime/task-map.ts). */
export interface ConesTasks {
  'cones.extract': TaskSpec<ExtractPayload, ExtractResult>;
  'cones.refine': TaskSpec<RefinePayload, RefineResult>;
}

export const DEFAULT_PROMPT_TEMPLATE = 'photo of a {identifier} {class}';
export const MAX_PROMPT_TEMPLATE_LENGTH = 300;
export const PRIOR_CFG_RANGE = { min: 1, max: 30 } as const;

export function instancePrompt(
  identifier: string,
  classNoun: string,
  template = DEFAULT_PROMPT_TEMPLATE,
): string {
  return template.replace('{identifier}', identifier).replace('{class}', classNoun);
}

/** The instance prompt without the identifier (and the space after it): "photo of a dog". */
export function priorPrompt(classNoun: string, template = DEFAULT_PROMPT_TEMPLATE): string {
  return template
    .replace(/\{identifier\}\s*/, '')
    .replace('{class}', classNoun)
    .trim();
}

function occurrences(text: string, part: string): number {
  return text.split(part).length - 1;
}

export function priorCfgOf(s: Pick<ExtractSettings, 'priorCfg'>): number {
  return s.priorCfg ?? PRIOR_SAMPLING.cfg;
}

/** One round: the paper's A2 (what an absent `rounds` means). */
export const DEFAULT_ROUNDS = 1;

/** "300 steps", or "10 rounds × 100 steps" for repeated extraction. */
export function stepsText(steps: number, rounds: number = DEFAULT_ROUNDS): string {
  return rounds > 1 ? `${rounds} rounds × ${steps} steps` : `${steps} steps`;
}
export const MAX_ROUNDS = 20;

/** Why these settings cannot run (null when they can). */
export function settingsProblem(s: ExtractSettings): string | null {
  if (!Number.isInteger(s.steps) || s.steps < 1) return `steps must be a positive integer, got ${s.steps}`;
  if (!(s.learningRate > 0 && Number.isFinite(s.learningRate)))
    return `learning_rate must be a positive number, got ${s.learningRate}`;
  if (s.selection !== 'top_fraction' && s.selection !== 'threshold')
    return `selection must be top_fraction or threshold, got ${s.selection}`;
  if (s.selection === 'top_fraction' && !(s.topFraction > 0 && s.topFraction <= 1))
    return `top_fraction must be in (0, 1], got ${s.topFraction}`;
  if (s.selection === 'threshold' && !Number.isFinite(s.threshold)) return `threshold must be a number`;
  if (s.scope !== 'cross-attention K/V' && s.scope !== 'all attention K/V')
    return `unknown scope '${s.scope}'`;
  if (!Number.isInteger(s.batchSize) || s.batchSize < 1) return `batch_size must be ≥ 1, got ${s.batchSize}`;
  if (!(s.priorLossWeight >= 0)) return `prior_loss_weight must be ≥ 0, got ${s.priorLossWeight}`;
  if (!Number.isInteger(s.priorCount) || s.priorCount < 0)
    return `prior_count must be ≥ 0, got ${s.priorCount}`;
  if (!Number.isInteger(s.resolution) || s.resolution < 64 || s.resolution % 8 !== 0)
    return `resolution must be a multiple of 8 and at least 64, got ${s.resolution}`;
  if (!Number.isInteger(s.seed) || s.seed < 0) return `seed must be a non-negative integer, got ${s.seed}`;
  if (s.rounds !== undefined && !(Number.isInteger(s.rounds) && s.rounds >= 1 && s.rounds <= MAX_ROUNDS))
    return `rounds must be an integer from 1 to ${MAX_ROUNDS}, got ${s.rounds}`;
  if (s.promptTemplate !== undefined) {
    const t = s.promptTemplate;
    if (occurrences(t, '{identifier}') !== 1 || occurrences(t, '{class}') !== 1)
      return `prompt_template must contain {identifier} and {class} once each, got "${t}"`;
    if (t.length > MAX_PROMPT_TEMPLATE_LENGTH)
      return `prompt_template is ${t.length} characters long; at most ${MAX_PROMPT_TEMPLATE_LENGTH} are allowed`;
  }
  if (
    s.priorCfg !== undefined &&
    !(Number.isFinite(s.priorCfg) && s.priorCfg >= PRIOR_CFG_RANGE.min && s.priorCfg <= PRIOR_CFG_RANGE.max)
  )
    return `prior_cfg must be from ${PRIOR_CFG_RANGE.min} to ${PRIOR_CFG_RANGE.max}, got ${s.priorCfg}`;
  return null;
}

function hashTensor(h: ReturnType<typeof createHash>, t: Tensor | undefined): void {
  if (!t) {
    h.update('none\0');
    return;
  }
  h.update(`${JSON.stringify(t.shape)}\0`);
  h.update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
}

/**
 * Content key of an extraction: base-model fingerprint, image bytes, prompts and every setting that
 * changes the result. Same key → same concept, so a finished result can be reused after a restart.
 */
export function extractionHash(
  p: Pick<
    ExtractPayload,
    'checkpoint' | 'images' | 'priorImages' | 'identifier' | 'classNoun' | 'settings' | 'keepTrainingData'
  >,
): string {
  const h = createHash('sha256');
  const s = p.settings;
  h.update(
    JSON.stringify({
      v: EXTRACTION_VERSION,
      fingerprint: p.checkpoint.fingerprint,
      identifier: p.identifier,
      classNoun: p.classNoun,
      keep: p.keepTrainingData,
      settings: [
        s.steps,
        s.learningRate,
        s.selection,
        s.selection === 'threshold' ? s.threshold : s.topFraction,
        s.scope,
        s.batchSize,
        s.priorLossWeight,
        p.priorImages ? 0 : s.priorCount,
        s.resolution,
        s.seed,
        s.hflip,
        // Absent at their defaults, so the keys of every earlier extraction stay valid.
        ...((s.rounds ?? DEFAULT_ROUNDS) !== DEFAULT_ROUNDS ? [s.rounds] : []),
        ...((s.promptTemplate ?? DEFAULT_PROMPT_TEMPLATE) !== DEFAULT_PROMPT_TEMPLATE
          ? [{ promptTemplate: s.promptTemplate }]
          : []),
        ...(priorCfgOf(s) !== PRIOR_SAMPLING.cfg ? [{ priorCfg: s.priorCfg }] : []),
      ],
      prior: PRIOR_SAMPLING,
    }),
  );
  hashTensor(h, p.images);
  hashTensor(h, p.priorImages);
  return h.digest('hex').slice(0, 32);
}
