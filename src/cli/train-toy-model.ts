/**
 * `cones-nodes train-toy-model <out.safetensors> [--resume | --init-from FILE | --export-only] [--stage vae|unet|all] [--steps N] …`
 * Trains the SD1-architecture demo model on the procedural toy world with the project's own ONNX
 * engine (src/train). A CLI job: it runs in its own process, never in the server.
 */
import { existsSync } from 'node:fs';
import { cloneConfig } from '../sd/config.js';
import { VAE_RECONSTRUCTION_LOSSES, type VaeReconstructionLoss } from '../sd/graphs/index.js';
import { formatDuration } from '../shared/duration.js';
import { intOption, numberOption, OptionValueError } from '../shared/option-values.js';
import { TOY_WORLDS, type ToyWorld } from '../train/data.js';
import { readCheckpointRecipe } from '../train/init-from.js';
import { defaultRecipe, type StageName, type TrainRecipe } from '../train/recipe.js';
import { vaeTrainingSize } from '../train/stages.js';
import { loadTrainState } from '../train/state.js';
import { exportTrainState, type StepEvent, TrainError, train, trainPaths } from '../train/trainer.js';
import { parseCommandArgs, usageError } from './args.js';

export const usage = `Usage: cones-nodes train-toy-model <out.safetensors> [options]

Trains a small Stable Diffusion 1.x-architecture model (VAE, then UNet; CLIP frozen at its random
initialisation unless --train-text-encoder) on the procedural toy world, on the CPU, and writes a
single-file LDM checkpoint that CheckpointLoaderSimple loads. Next to it: <name>.train-state (for
--resume; written every --checkpoint-every steps) and <name>.loss.jsonl (one line per step).

Options:
  --stage S             vae | unet | all (default all)
  --steps N             steps of the stage (--stage vae|unet); with all, the UNet's
  --vae-steps N         VAE steps (default 10000)
  --unet-steps N        UNet steps (default 5000)
  --batch N             batch of the stage (with all: the UNet's)
  --seed N              initial weights and data (default 0)
  --world W             toy world curriculum: ${TOY_WORLDS.join(' | ')} (default full)
  --lr X                peak learning rate of the stage (with all: the UNet's)
  --edge-weight X       VAE: weight of an L1 term on neighbouring-pixel differences (default 0, LDM's loss)
  --vae-loss L          VAE reconstruction term: l1 (default, LDM's) | mse (keeps texture the decoder
                        cannot place as a blur where L1 drops it)
  --vae-decoder-only    VAE: train the decoder alone (encoder and latent scale kept, so the UNet of an
                        --init-from model stays valid); --no-vae-decoder-only trains the whole VAE
  --vae-crop N          VAE: train on random N×N crops (a multiple of 8; 64 = whole frames; default 32)
  --offset-noise X      UNet: add X times a per-sample, per-channel N(0,1) constant to the diffusion noise
                        (default 0, plain SD1 training; lets the model move a latent's mean)
  --checkpoint-every N  steps between training states (default 500)
  --threads N           ORT threads (default 2)
  --train-text-encoder  train CLIP with the UNet (default: frozen)
  --fp16                store the model as F16 (default F32)
  --resume              continue the run whose training state sits next to <out>
  --init-from FILE      start a new run from the weights of FILE, a model this command exported
                        (F32 or F16): fresh optimiser, step counter and warm-up, new samples; the
                        recipe defaults to FILE's (same config required), the options above override
                        it; the new model's metadata lists every run behind it and the totals
  --export-only         write <out> from the training state next to it (honouring --fp16), no training
  -h, --help            this text

Ctrl-C stops after the current step and saves the state and the model; --resume continues exactly.
A recipe longer than one sitting runs in parts: --init-from part1.safetensors --stage unet --steps N.`;

const positiveInt = (name: string, value: string | undefined) => intOption(name, value, undefined);

export function progressLine(e: StepEvent): string {
  const extra = Object.entries(e.metrics)
    .map(([k, v]) => ` ${k} ${v.toPrecision(4)}`)
    .join('');
  return (
    `${e.stage} step ${e.step}/${e.steps} loss ${e.loss.toPrecision(4)}${extra} lr ${e.lr.toExponential(2)} ` +
    `${e.samplesPerSecond.toFixed(1)} samples/s ETA ${formatDuration(e.etaSeconds)}`
  );
}

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommandArgs('train-toy-model', usage, {
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      stage: { type: 'string' },
      steps: { type: 'string' },
      'vae-steps': { type: 'string' },
      'unet-steps': { type: 'string' },
      batch: { type: 'string' },
      seed: { type: 'string' },
      world: { type: 'string' },
      lr: { type: 'string' },
      'edge-weight': { type: 'string' },
      'vae-crop': { type: 'string' },
      'vae-decoder-only': { type: 'boolean' },
      'vae-loss': { type: 'string' },
      'no-vae-decoder-only': { type: 'boolean' },
      'offset-noise': { type: 'string' },
      'checkpoint-every': { type: 'string' },
      threads: { type: 'string' },
      'train-text-encoder': { type: 'boolean' },
      fp16: { type: 'boolean', default: false },
      resume: { type: 'boolean', default: false },
      'init-from': { type: 'string' },
      'export-only': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  if (positionals.length !== 1) return usageError('train-toy-model', 'expected one output path', usage);
  const out = positionals[0];
  if (!/\.safetensors$/i.test(out))
    return usageError('train-toy-model', 'the output must end in .safetensors', usage);
  if (values['export-only']) {
    const others = Object.entries(values).filter(
      ([k, v]) => !['export-only', 'fp16', 'help', 'resume'].includes(k) && v !== undefined,
    );
    if (others.length || values.resume)
      return usageError(
        'train-toy-model',
        `--export-only takes only --fp16 (got --${others.map(([k]) => k)[0] ?? 'resume'})`,
        usage,
      );
    try {
      const state = await exportTrainState(out, values.fp16 as boolean);
      console.log(`wrote ${out} (${values.fp16 ? 'F16' : 'F32'}) from ${state.stage} step ${state.step}`);
      return 0;
    } catch (error) {
      return trainErrorExit(error);
    }
  }
  const initFrom = values['init-from'] as string | undefined;
  if (initFrom !== undefined && values.resume)
    return usageError(
      'train-toy-model',
      '--resume continues the run in the training state (which records its --init-from): drop --init-from',
      usage,
    );
  const stageArg = (values.stage as string | undefined) ?? 'all';
  if (!['vae', 'unet', 'all'].includes(stageArg))
    return usageError('train-toy-model', `--stage must be vae, unet or all, got ${stageArg}`, usage);
  const stages: StageName[] = stageArg === 'all' ? ['vae', 'unet'] : [stageArg as StageName];
  try {
    let recipe: TrainRecipe;
    const statePath = trainPaths(out).state;
    if (values.resume) {
      if (!existsSync(statePath)) throw new TrainError(`no training state to resume at ${statePath}`);
      recipe = (await loadTrainState(statePath)).recipe;
      recipe.config = cloneConfig(recipe.config);
    } else {
      const seed = intOption('seed', values.seed, undefined, 0, 0xffffffff);
      if (initFrom !== undefined) {
        recipe = await readCheckpointRecipe(initFrom);
        recipe.config = cloneConfig(recipe.config);
        if (seed !== undefined) recipe.seed = seed;
      } else recipe = defaultRecipe({ seed: seed ?? 0 });
      if (values.world !== undefined) {
        if (!TOY_WORLDS.includes(values.world as ToyWorld))
          throw new TrainError(`--world must be one of ${TOY_WORLDS.join(', ')}`);
        recipe.world = values.world as ToyWorld;
      }
      if (values['train-text-encoder'] !== undefined || initFrom === undefined)
        recipe.unet.trainTextEncoder = (values['train-text-encoder'] as boolean | undefined) ?? false;
      const batch = positiveInt('batch', values.batch);
      const target = stageArg === 'vae' ? recipe.vae : recipe.unet;
      if (batch) target.batch = batch;
      const lr = numberOption('lr', values.lr, undefined, { min: 0, exclusiveMin: true });
      if (lr !== undefined) {
        target.lr = lr;
        target.minLr = Math.min(target.minLr, lr / 10);
      }
      const w = numberOption('edge-weight', values['edge-weight'], undefined, { min: 0 });
      if (w !== undefined) {
        if (w > 0) recipe.vae.edgeWeight = w;
        else delete recipe.vae.edgeWeight; // (an --init-from recipe may have one)
      }
      const x = numberOption('offset-noise', values['offset-noise'], undefined, { min: 0, max: 1 });
      if (x !== undefined) {
        if (x > 0) recipe.unet.offsetNoise = x;
        else delete recipe.unet.offsetNoise; // (an --init-from recipe may have one)
      }
      const vaeLoss = values['vae-loss'] as string | undefined;
      if (vaeLoss !== undefined) {
        if (!(VAE_RECONSTRUCTION_LOSSES as readonly string[]).includes(vaeLoss))
          throw new TrainError(
            `--vae-loss must be one of ${VAE_RECONSTRUCTION_LOSSES.join(', ')}, got ${vaeLoss}`,
          );
        if (vaeLoss === 'l1')
          delete recipe.vae.reconstruction; // (an --init-from recipe may have mse)
        else recipe.vae.reconstruction = vaeLoss as VaeReconstructionLoss;
      }
      if (values['vae-decoder-only'] && values['no-vae-decoder-only'])
        throw new TrainError('--vae-decoder-only and --no-vae-decoder-only contradict each other');
      if (values['vae-decoder-only']) recipe.vae.decoderOnly = true;
      else if (values['no-vae-decoder-only'] || initFrom === undefined) delete recipe.vae.decoderOnly;
      const crop = positiveInt('vae-crop', values['vae-crop']);
      if (crop !== undefined) {
        recipe.vae.cropSize = crop;
        try {
          vaeTrainingSize(recipe);
        } catch (error) {
          throw new TrainError(`--vae-crop: ${(error as Error).message}`);
        }
      }
    }
    // Step counts and bookkeeping may change on resume (to extend a run); nothing else may.
    const steps = positiveInt('steps', values.steps);
    const vaeSteps =
      positiveInt('vae-steps', values['vae-steps']) ?? (stageArg === 'vae' ? steps : undefined);
    const unetSteps =
      positiveInt('unet-steps', values['unet-steps']) ?? (stageArg !== 'vae' ? steps : undefined);
    if (vaeSteps) recipe.vae.steps = vaeSteps;
    if (unetSteps) recipe.unet.steps = unetSteps;
    recipe.checkpointEvery =
      positiveInt('checkpoint-every', values['checkpoint-every']) ?? recipe.checkpointEvery;
    recipe.threads = positiveInt('threads', values.threads) ?? recipe.threads;

    const controller = new AbortController();
    const onSigint = () => {
      if (controller.signal.aborted) process.exit(130);
      console.error('train-toy-model: stopping after this step (Ctrl-C again to quit without saving)');
      controller.abort();
    };
    process.on('SIGINT', onSigint);
    let lastPrint = 0;
    try {
      const result = await train({
        out,
        recipe,
        stages,
        resume: values.resume as boolean,
        ...(initFrom !== undefined ? { initFrom } : {}),
        fp16: values.fp16 as boolean,
        signal: controller.signal,
        log: (line) => console.log(line),
        onStep: (e) => {
          const now = performance.now();
          if (e.step === 1 || e.step === e.steps || now - lastPrint > 10_000) {
            lastPrint = now;
            console.log(progressLine(e));
          }
        },
      });
      console.log(
        `${result.interrupted ? 'stopped' : 'done'}: ${result.state.stage} step ${result.state.step}, ` +
          `${result.state.wallSeconds.toFixed(0)} s of training; loss log ${result.paths.log}`,
      );
    } finally {
      process.off('SIGINT', onSigint);
    }
    return 0;
  } catch (error) {
    return trainErrorExit(error);
  }
}

/** A TrainError is the user's to fix: its message and exit code 2; anything else is a bug and propagates. */
function trainErrorExit(error: unknown): number {
  if (!(error instanceof TrainError || error instanceof OptionValueError)) throw error;
  console.error(`train-toy-model: ${error.message}`);
  return 2;
}
