/**
 * The training loop: VAE stage, then UNet stage, with AdamW, global-norm clipping, warm-up + cosine
 * learning rate, a UNet EMA, a training state every `checkpointEvery` steps and a JSONL loss log.
 * Everything a step reads is a function of (recipe, step, state), so `--resume` continues exactly:
 * 2N steps in one run equal N steps, a stop, and a resume for N more, bit for bit.
 *
 * A new run starts from initialWeights or, with `initFrom`, from an exported checkpoint (a recipe
 * run in parts); `exportTrainState` writes a state's model without training.
 *
 * Files next to the output `<name>.safetensors`: `<name>.train-state` (safetensors bytes under a
 * name ComfyUI's checkpoint lists do not show) and `<name>.loss.jsonl`.
 */
import { existsSync } from 'node:fs';
import { appendFile, writeFile } from 'node:fs/promises';
import { SafetensorsFile } from '../sd/checkpoint/safetensors-reader.js';
import { UNET_PREFIX } from '../sd/checkpoint/sd1-tensors.js';
import { TrainError } from './errors.js';
import { exportInfo, exportModel } from './export.js';
import { readInitCheckpoint } from './init-from.js';
import { foldLatentScale, latentStd } from './latent-scale.js';
import { historyTotals, type Lineage } from './lineage.js';
import { readLog, truncateLog } from './loss-log.js';
import { initialWeights } from './model-init.js';
import { adamwUpdate, clipScale, emaDecay, emaUpdate, globalNorm, learningRate } from './optimizer.js';
import { STAGE_NAMES, type StageName, type StageRecipe, type TrainRecipe } from './recipe.js';
import { type StageOptions, type TrainingStage, unetStage, vaeStage } from './stages.js';
import { loadTrainState, saveTrainState, type TrainState } from './state.js';

export { TrainError } from './errors.js';

export interface TrainPaths {
  model: string;
  state: string;
  log: string;
}

export function trainPaths(out: string): TrainPaths {
  const stem = out.replace(/\.safetensors$/i, '');
  return { model: out, state: `${stem}.train-state`, log: `${stem}.loss.jsonl` };
}

export interface StepEvent {
  stage: StageName;
  /** Steps of this stage done (1-based: the step just finished). */
  step: number;
  steps: number;
  loss: number;
  metrics: Record<string, number>;
  lr: number;
  gradNorm: number;
  samplesPerSecond: number;
  etaSeconds: number;
}

export interface TrainOptions extends StageOptions {
  out: string;
  recipe: TrainRecipe;
  /** Stages to run, in order (a subset of vae, unet). */
  stages: readonly StageName[];
  /** Continue from the training state next to `out` (its recipe must describe the same run). */
  resume?: boolean;
  /**
   * Start a new run from this exported checkpoint's weights (init-from.ts) instead of initialWeights:
   * fresh AdamW moments, step counter and warm-up; EMA from its UNet; its latent scale and history
   * carried over; each stage's `dataOffset` set to the steps its history trained. Not with `resume`.
   */
  initFrom?: string;
  /** Store the exported model as F16 (default F32). */
  fp16?: boolean;
  /** Stop after the step in progress, write the state and the model, and return. */
  signal?: AbortSignal;
  onStep?(event: StepEvent): void;
  /** Human-readable notes (stage changes, checkpoints). */
  log?(line: string): void;
}

export interface TrainResult {
  state: TrainState;
  interrupted: boolean;
  paths: TrainPaths;
}

/** Fields that must match between a saved state's recipe and a resumed run's (steps may grow). */
export function recipeMismatch(saved: TrainRecipe, wanted: TrainRecipe): string | undefined {
  const strip = (r: TrainRecipe) => ({
    ...r,
    vae: { ...r.vae, steps: 0 },
    unet: { ...r.unet, steps: 0 },
    checkpointEvery: 0,
    threads: 0,
  });
  const a = strip(saved);
  const b = strip(wanted);
  for (const key of Object.keys(a) as (keyof TrainRecipe)[])
    if (JSON.stringify(a[key]) !== JSON.stringify(b[key])) return key;
  return undefined;
}

/**
 * The recipe with each stage's `dataOffset` at the steps the lineage already trained (none: absent),
 * so a run started from an export draws new samples; a resume derives the same offsets.
 */
function withDataOffsets(recipe: TrainRecipe, lineage: Lineage | undefined): TrainRecipe {
  const done = historyTotals(lineage?.history ?? []).steps;
  const { dataOffset: _v, ...vae } = recipe.vae;
  const { dataOffset: _u, ...unet } = recipe.unet;
  const offset = (n: number) => (n > 0 ? { dataOffset: n } : {});
  return { ...recipe, vae: { ...vae, ...offset(done.vae) }, unet: { ...unet, ...offset(done.unet) } };
}

/** The state a new (not resumed) run starts from: initialWeights, `initFrom`'s, or <out>'s VAE and CLIP. */
export async function startState(opts: TrainOptions): Promise<TrainState> {
  const paths = trainPaths(opts.out);
  const { recipe } = opts;
  const first = opts.stages[0];
  const start = { stage: first, step: 0, slots: new Map(), ema: new Map(), wallSeconds: 0 };
  if (recipe.vae.decoderOnly && first === 'vae' && !opts.initFrom)
    throw new TrainError('--vae-decoder-only fine-tunes a trained VAE: start it --init-from a model');
  if (opts.initFrom) {
    const init = await readInitCheckpoint(opts.initFrom, recipe.config);
    const lineage = { initFrom: init.source, history: init.history };
    return {
      ...start,
      recipe: withDataOffsets(recipe, lineage),
      weights: init.weights,
      ...(init.latentScale !== undefined ? { latentScale: init.latentScale } : {}),
      lineage,
    };
  }
  const weights = initialWeights(recipe.config, recipe.seed);
  let latentScale: number | undefined;
  if (first === 'unet') {
    // Train the UNet against an autoencoder trained earlier: the VAE (and CLIP) of the output file.
    if (!existsSync(paths.model))
      throw new TrainError(`--stage unet needs a trained VAE in ${paths.model}: run --stage vae first`);
    const file = await SafetensorsFile.open(paths.model);
    try {
      for (const [key, shape] of weights.shapes) {
        if (key.startsWith(UNET_PREFIX)) continue;
        const have = file.tensors.get(key)?.shape;
        if (!have || have.join(',') !== shape.join(','))
          throw new TrainError(`${paths.model} does not match the recipe's architecture at ${key}`);
        weights.values.set(key, await file.readF32(key));
      }
      const scale = file.metadata['cones.train.latent_scale'];
      if (scale !== undefined) latentScale = Number(scale);
    } finally {
      await file.close();
    }
  }
  const fresh = withDataOffsets(recipe, undefined);
  return { ...start, recipe: fresh, weights, ...(latentScale !== undefined ? { latentScale } : {}) };
}

function stageRecipe(recipe: TrainRecipe, stage: StageName): StageRecipe {
  return stage === 'vae' ? recipe.vae : recipe.unet;
}

export async function train(opts: TrainOptions): Promise<TrainResult> {
  const paths = trainPaths(opts.out);
  const say = opts.log ?? (() => {});
  let state: TrainState;
  if (opts.resume && opts.initFrom)
    throw new TrainError(
      '--resume continues the run in the training state (which records its --init-from): drop --init-from',
    );
  if (opts.resume) {
    if (!existsSync(paths.state)) throw new TrainError(`no training state to resume at ${paths.state}`);
    state = await loadTrainState(paths.state);
    const wanted = withDataOffsets(opts.recipe, state.lineage);
    const field = recipeMismatch(state.recipe, wanted);
    if (field)
      throw new TrainError(`the saved run's recipe differs in '${field}': resume it with the same settings`);
    state.recipe = wanted;
    await truncateLog(paths.log, state.stage, state.step);
    say(`resuming ${state.stage} at step ${state.step}`);
  } else {
    if (existsSync(paths.state))
      throw new TrainError(`${paths.state} exists: pass --resume to continue it, or delete it to start over`);
    state = await startState(opts);
    if (opts.initFrom && state.latentScale === undefined && state.stage === 'unet')
      say(
        `warning: ${opts.initFrom} has no cones.train.latent_scale: its VAE's latents were never normalised`,
      );
    await writeFile(paths.log, '');
  }

  const todo = STAGE_NAMES.filter(
    (s) => opts.stages.includes(s) && STAGE_NAMES.indexOf(s) >= STAGE_NAMES.indexOf(state.stage),
  );
  let interrupted = false;
  for (const name of todo) {
    if (state.stage !== name) {
      state.stage = name;
      state.step = 0;
      state.slots = new Map();
      state.ema = new Map();
    }
    const stage =
      name === 'vae'
        ? await vaeStage(state.recipe, state.weights, opts)
        : await unetStage(state.recipe, state.weights, opts);
    try {
      interrupted = await runStage(stage, state, paths, opts);
    } finally {
      await stage.release();
    }
    if (interrupted) break;
    if (name === 'vae') {
      if (state.recipe.vae.decoderOnly)
        say('VAE decoder trained alone: the encoder and latent scale are unchanged');
      else {
        const std = await latentStd(state.recipe, state.weights, 4, state.recipe.vae.batch, opts);
        // A VAE that started from an export already holds its scale: the fold now is the correction (≈ 1).
        const k = foldLatentScale(state.weights, state.recipe.config.vae.latentChannels, std);
        state.latentScale = (state.latentScale ?? 1) * k;
        say(
          `VAE latent std ${std.toPrecision(4)}: folded ×${k.toPrecision(4)} into quant_conv` +
            ` (latent scale ${state.latentScale.toPrecision(4)})`,
        );
      }
      state.stage = 'unet';
      state.step = 0;
      state.slots = new Map();
      state.ema = new Map();
      await saveTrainState(paths.state, state);
    }
  }
  await exportModel(
    paths.model,
    state,
    exportInfo(state, await readLog(paths.log)),
    opts.fp16 ? 'F16' : 'F32',
  );
  say(`wrote ${paths.model}`);
  return { state, interrupted, paths };
}

/**
 * Writes the model of the training state next to `out` without training (`--export-only`): the same
 * file a run ending at that state writes. Reads the state and the loss log as they are; writes only `out`.
 */
export async function exportTrainState(out: string, fp16 = false): Promise<TrainState> {
  const paths = trainPaths(out);
  if (!existsSync(paths.state)) throw new TrainError(`no training state to export at ${paths.state}`);
  const state = await loadTrainState(paths.state);
  await exportModel(paths.model, state, exportInfo(state, await readLog(paths.log)), fp16 ? 'F16' : 'F32');
  return state;
}

/** Runs one stage from state.step to its recipe's steps; returns true when interrupted. */
async function runStage(
  stage: TrainingStage,
  state: TrainState,
  paths: TrainPaths,
  opts: TrainOptions,
): Promise<boolean> {
  const r = stageRecipe(state.recipe, stage.name);
  const unet = stage.name === 'unet';
  for (const key of stage.trainableKeys) {
    if (!state.slots.has(key)) {
      const n = state.weights.values.get(key)!.length;
      state.slots.set(key, { m: new Float32Array(n), v: new Float32Array(n) });
    }
    if (unet && key.startsWith(UNET_PREFIX) && !state.ema.has(key))
      state.ema.set(key, Float32Array.from(state.weights.values.get(key)!));
  }
  const schedule = {
    lr: r.lr,
    warmupSteps: r.warmupSteps,
    decay: r.decay,
    totalSteps: r.steps,
    minLr: r.minLr,
  };
  const recent: number[] = [];
  while (state.step < r.steps) {
    const started = performance.now();
    const s = state.step;
    const result = await stage.step(s);
    if (!Number.isFinite(result.loss))
      throw new TrainError(`${stage.name} step ${s + 1}: loss is ${result.loss}`);
    const norm = globalNorm(result.grads.values());
    const scale = clipScale(norm, r.clipNorm);
    const lr = learningRate(schedule, s);
    for (const key of stage.trainableKeys) {
      const w = state.weights.values.get(key)!;
      const decay = state.weights.shapes.get(key)!.length >= 2;
      adamwUpdate(w, result.grads.get(key)!, state.slots.get(key)!, lr, s + 1, r.adamw, decay, scale);
    }
    if (unet) {
      const d = emaDecay(state.recipe.unet.emaDecay, s);
      for (const [key, ema] of state.ema) emaUpdate(ema, state.weights.values.get(key)!, d);
    }
    state.step = s + 1;
    const seconds = (performance.now() - started) / 1000;
    state.wallSeconds += seconds;
    recent.push(seconds);
    if (recent.length > 20) recent.shift();
    const perStep = recent.reduce((a, b) => a + b, 0) / recent.length;
    const entry = {
      stage: stage.name,
      step: state.step,
      loss: result.loss,
      ...result.metrics,
      lr,
      grad_norm: norm,
      seconds: Number(seconds.toFixed(4)),
    };
    await appendFile(paths.log, `${JSON.stringify(entry)}\n`);
    opts.onStep?.({
      stage: stage.name,
      step: state.step,
      steps: r.steps,
      loss: result.loss,
      metrics: result.metrics,
      lr,
      gradNorm: norm,
      samplesPerSecond: r.batch / perStep,
      etaSeconds: perStep * (r.steps - state.step),
    });
    const aborted = opts.signal?.aborted ?? false;
    if (aborted || state.step % state.recipe.checkpointEvery === 0 || state.step === r.steps) {
      await saveTrainState(paths.state, state);
      opts.log?.(`${stage.name} step ${state.step}: training state saved`);
    }
    if (aborted) return true;
  }
  return false;
}
