/**
 * A model's lineage: every run that trained it, oldest first. A recipe too long for one sitting runs
 * in parts, each a new run started `--init-from` the previous part's export, so the export carries
 * the whole list (`cones.train.history`) and its totals (`cones.train.total_steps`,
 * `cones.train.total_wall_seconds`): the cost of the whole recipe, not just of the last part.
 */
import { type LogEntry, summarizeLog } from './loss-log.js';
import { STAGE_NAMES, type StageName, type TrainRecipe } from './recipe.js';

/** A checkpoint a run started from: its file name and the SHA-256 of its bytes. */
export interface InitSource {
  file: string;
  sha256: string;
}

export interface StageRun {
  steps: number;
  batch: number;
  /** Peak and final learning rate, warm-up steps. */
  lr: number;
  minLr: number;
  warmupSteps: number;
  /** Seconds of this stage's steps (absent for runs exported before per-stage records). */
  wallSeconds?: number;
  /** Mean loss of the stage's last 50 logged steps. */
  finalLoss?: number;
  /** VAE: only the decoder was trained (the encoder and latent space were kept). */
  decoderOnly?: true;
}

export interface RunRecord {
  /** The checkpoint whose weights this run started from; absent: from scratch or from <out>'s VAE. */
  initFrom?: InitSource;
  seed: number;
  world: string;
  stages: Partial<Record<StageName, StageRun>>;
  /** Training seconds of the run, over all its resumes. */
  wallSeconds: number;
}

/** What a training state remembers of where its weights came from (none: initialWeights). */
export interface Lineage {
  initFrom: InitSource;
  /** The runs behind the init-from checkpoint, oldest first. */
  history: RunRecord[];
}

export const HISTORY_KEY = 'cones.train.history';
export const TOTAL_STEPS_KEY = 'cones.train.total_steps';
export const TOTAL_WALL_KEY = 'cones.train.total_wall_seconds';

/** This run's record, from its recipe, its wall time and its loss log (entries up to the state). */
export function runRecord(
  recipe: TrainRecipe,
  wallSeconds: number,
  entries: readonly LogEntry[],
  initFrom?: InitSource,
): RunRecord {
  const summary = summarizeLog(entries);
  const stages: RunRecord['stages'] = {};
  for (const name of STAGE_NAMES) {
    const s = summary[name];
    if (!s) continue;
    const r = recipe[name];
    stages[name] = {
      steps: s.steps,
      batch: r.batch,
      lr: r.lr,
      minLr: r.minLr,
      warmupSteps: r.warmupSteps,
      wallSeconds: Number(s.seconds.toFixed(1)),
      finalLoss: s.finalLoss,
      ...(name === 'vae' && recipe.vae.decoderOnly ? { decoderOnly: true as const } : {}),
    };
  }
  return {
    ...(initFrom ? { initFrom } : {}),
    seed: recipe.seed,
    world: recipe.world,
    stages,
    wallSeconds: Number(wallSeconds.toFixed(1)),
  };
}

export function historyTotals(history: readonly RunRecord[]): {
  steps: Record<StageName, number>;
  wallSeconds: number;
} {
  const steps = { vae: 0, unet: 0 };
  let wallSeconds = 0;
  for (const run of history) {
    for (const name of STAGE_NAMES) steps[name] += run.stages[name]?.steps ?? 0;
    wallSeconds += run.wallSeconds;
  }
  return { steps, wallSeconds };
}

/** The history keys of an export's `__metadata__`. */
export function historyMetadata(history: readonly RunRecord[]): Record<string, string> {
  const totals = historyTotals(history);
  return {
    [HISTORY_KEY]: JSON.stringify(history),
    [TOTAL_STEPS_KEY]: JSON.stringify(totals.steps),
    [TOTAL_WALL_KEY]: totals.wallSeconds.toFixed(1),
  };
}

/**
 * The runs behind an exported checkpoint: its `cones.train.history`, or for an export written before
 * histories existed, one run rebuilt from its recipe, `cones.train.steps`, `final_losses` and
 * `wall_seconds` (per-stage seconds unknown).
 */
export function historyOf(meta: Readonly<Record<string, string>>, recipe: TrainRecipe): RunRecord[] {
  if (meta[HISTORY_KEY] !== undefined) {
    const history = JSON.parse(meta[HISTORY_KEY]) as RunRecord[];
    if (!Array.isArray(history)) throw new Error(`${HISTORY_KEY} is not a list`);
    return history;
  }
  const steps = JSON.parse(meta['cones.train.steps'] ?? '{}') as Record<string, number>;
  const losses = JSON.parse(meta['cones.train.final_losses'] ?? '{}') as Record<string, number>;
  const stages: RunRecord['stages'] = {};
  for (const name of STAGE_NAMES) {
    if (!steps[name]) continue;
    const r = recipe[name];
    stages[name] = {
      steps: steps[name],
      batch: r.batch,
      lr: r.lr,
      minLr: r.minLr,
      warmupSteps: r.warmupSteps,
      ...(losses[name] !== undefined ? { finalLoss: losses[name] } : {}),
    };
  }
  return [
    {
      seed: recipe.seed,
      world: recipe.world,
      stages,
      wallSeconds: Number(meta['cones.train.wall_seconds'] ?? 0),
    },
  ];
}
