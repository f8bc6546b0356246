/**
 * The training loop: VAE stage, then UNet stage, with AdamW, global-norm clipping, warm-up + cosine
 * learning rate, a UNet EMA, a training state every `checkpointEvery` steps and a JSONL loss log.
 * Everything a step reads is a function of (recipe, step, state), so `--resume` continues exactly:
 * 2N steps in one run equal N steps, a stop, and a resume for N more, bit for bit.
 *
 * Files next to the output `<name>.safetensors`: `<name>.train-state` (safetensors bytes under a
 * name ComfyUI's checkpoint lists do not show) and `<name>.loss.jsonl`.
 */
import { existsSync } from 'node:fs';
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { openCheckpoint } from '../sd/checkpoint/checkpoint.js';
import { UNET_PREFIX } from '../sd/checkpoint/sd1-tensors.js';
import { exportModel } from './export.js';
import { foldLatentScale, latentStd } from './latent-scale.js';
import { initialWeights } from './model-init.js';
import { adamwUpdate, clipScale, emaDecay, emaUpdate, globalNorm, learningRate } from './optimizer.js';
import { STAGE_NAMES, type StageName, type StageRecipe, type TrainRecipe } from './recipe.js';
import { type StageOptions, type TrainingStage, unetStage, vaeStage } from './stages.js';
import { loadTrainState, saveTrainState, type TrainState } from './state.js';

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

export class TrainError extends Error {}

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

async function freshState(opts: TrainOptions, paths: TrainPaths): Promise<TrainState> {
  const { recipe } = opts;
  const weights = initialWeights(recipe.config, recipe.seed);
  const first = opts.stages[0];
  if (first === 'unet') {
    // Train the UNet against an autoencoder trained earlier: the VAE (and CLIP) of the output file.
    if (!existsSync(paths.model))
      throw new TrainError(`--stage unet needs a trained VAE in ${paths.model}: run --stage vae first`);
    const ckpt = await openCheckpoint(paths.model);
    try {
      for (const [key, shape] of weights.shapes) {
        if (key.startsWith(UNET_PREFIX)) continue;
        const have = ckpt.has(key) ? ckpt.shapeOf(key) : undefined;
        if (!have || have.join(',') !== shape.join(','))
          throw new TrainError(`${paths.model} does not match the recipe's architecture at ${key}`);
        weights.values.set(key, await ckpt.readF32(key));
      }
    } finally {
      await ckpt.close();
    }
  }
  return { recipe, stage: first, step: 0, weights, slots: new Map(), ema: new Map(), wallSeconds: 0 };
}

interface LogEntry {
  stage: StageName;
  step: number;
  loss: number;
}

async function readLog(path: string): Promise<LogEntry[]> {
  if (!existsSync(path)) return [];
  return (await readFile(path, 'utf8'))
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as LogEntry);
}

/** Keeps the log entries up to the state's position (later ones came from steps the resume redoes). */
async function truncateLog(path: string, state: TrainState): Promise<void> {
  const order = STAGE_NAMES.indexOf(state.stage);
  const kept = (await readLog(path)).filter((e) => {
    const o = STAGE_NAMES.indexOf(e.stage);
    return o < order || (o === order && e.step <= state.step);
  });
  await writeFile(path, kept.map((e) => `${JSON.stringify(e)}\n`).join(''));
}

async function finalLosses(path: string): Promise<Record<string, number>> {
  const entries = await readLog(path);
  const out: Record<string, number> = {};
  for (const stage of STAGE_NAMES) {
    const last = entries.filter((e) => e.stage === stage).slice(-50);
    if (last.length) out[stage] = last.reduce((s, e) => s + e.loss, 0) / last.length;
  }
  return out;
}

function stageRecipe(recipe: TrainRecipe, stage: StageName): StageRecipe {
  return stage === 'vae' ? recipe.vae : recipe.unet;
}

export async function train(opts: TrainOptions): Promise<TrainResult> {
  const paths = trainPaths(opts.out);
  const say = opts.log ?? (() => {});
  let state: TrainState;
  if (opts.resume) {
    if (!existsSync(paths.state)) throw new TrainError(`no training state to resume at ${paths.state}`);
    state = await loadTrainState(paths.state);
    const field = recipeMismatch(state.recipe, opts.recipe);
    if (field)
      throw new TrainError(`the saved run's recipe differs in '${field}': resume it with the same settings`);
    state.recipe = opts.recipe;
    await truncateLog(paths.log, state);
    say(`resuming ${state.stage} at step ${state.step}`);
  } else {
    if (existsSync(paths.state))
      throw new TrainError(`${paths.state} exists: pass --resume to continue it, or delete it to start over`);
    state = await freshState(opts, paths);
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
      const std = await latentStd(state.recipe, state.weights, 4, state.recipe.vae.batch, opts);
      state.latentScale = foldLatentScale(state.weights, state.recipe.config.vae.latentChannels, std);
      say(
        `VAE latent std ${std.toPrecision(4)}: folded ×${state.latentScale.toPrecision(4)} into quant_conv`,
      );
      state.stage = 'unet';
      state.step = 0;
      state.slots = new Map();
      state.ema = new Map();
      await saveTrainState(paths.state, state);
    }
  }
  const steps: Record<string, number> = {};
  const losses = await finalLosses(paths.log);
  for (const e of await readLog(paths.log)) steps[e.stage] = Math.max(steps[e.stage] ?? 0, e.step);
  await exportModel(
    paths.model,
    state,
    { steps, finalLosses: losses, latentScale: state.latentScale },
    opts.fp16 ? 'F16' : 'F32',
  );
  say(`wrote ${paths.model}`);
  return { state, interrupted, paths };
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
