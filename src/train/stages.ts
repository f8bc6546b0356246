/**
 * The two training stages as "compute the gradients of step s" objects: each owns its ORT sessions
 * (the training graph, plus the frozen VAE encoder and CLIP for the UNet stage) and rebuilds step s's
 * batch and noise from (seed, dataOffset + s) alone. The optimiser update lives in the trainer.
 */
import {
  createSession,
  type EngineSession,
  encodeModel,
  type Graph,
  type TensorValue,
} from '../onnx/index.js';
import { TEXT_PREFIX, UNET_PREFIX, VAE_PREFIX } from '../sd/checkpoint/sd1-tensors.js';
import {
  buildTextEncoderGraph,
  buildUnetTrainingGraph,
  buildVaeEncoderGraph,
  buildVaeTrainingGraph,
  MODEL_TRAINING_LOSS,
  SD1_VAE_SCALING_FACTOR,
  TEXT_INPUT,
  TEXT_OUTPUT,
  UNET_TRAINING_INPUTS,
  VAE_ENCODER_INPUT,
  VAE_ENCODER_OUTPUTS,
  VAE_TRAINING_INPUTS,
  VAE_TRAINING_OUTPUTS,
  type Weights,
  weightGradName,
} from '../sd/graphs/index.js';
import { sd1Schedule, TRAIN_TIMESTEPS } from '../sd/schedule.js';
import { emptyChunk, tokenize } from '../sd/tokenizer/index.js';
import { cropBatch, type ImageBatch, STREAM, toyBatch } from './data.js';
import type { TensorSet } from './model-init.js';
import { gaussians, streamSeed, Uniforms } from './random.js';
import type { StageName, TrainRecipe } from './recipe.js';

export interface StepResult {
  loss: number;
  /** Other scalar outputs (VAE: rec_loss, kl_loss). */
  metrics: Record<string, number>;
  /** Gradient per trainable key. */
  grads: Map<string, Float32Array>;
}

export interface TrainingStage {
  readonly name: StageName;
  /** Canonical keys of the weights this stage trains. */
  readonly trainableKeys: readonly string[];
  /** Gradients at step `step` (0-based) for the current values in the weight set. */
  step(step: number): Promise<StepResult>;
  release(): Promise<void>;
}

export interface StageOptions {
  /** Flush denormals to zero in every session (default true; see README.md here). */
  denormalAsZero?: boolean;
}

/** The weight set as the graph builders read it (shared arrays, no copies). */
export function weightsOf(set: TensorSet, prefix: string): Weights {
  const out = new Map<string, { data: Float32Array; shape: readonly number[]; dtype: 'float32' }>();
  for (const [key, data] of set.values)
    if (key.startsWith(prefix)) out.set(key, { data, shape: set.shapes.get(key)!, dtype: 'float32' });
  return out;
}

async function open(graph: Graph, recipe: TrainRecipe, opts: StageOptions): Promise<EngineSession> {
  return createSession(encodeModel(graph), {
    executionProvider: 'cpu',
    threads: recipe.threads,
    denormalAsZero: opts.denormalAsZero ?? true,
    log: () => {},
  });
}

const f32 = (shape: number[], data: Float32Array): TensorValue => ({ dtype: 'float32', shape, data });

function weightFeeds(set: TensorSet, keys: readonly string[]): Record<string, TensorValue> {
  const feeds: Record<string, TensorValue> = {};
  for (const key of keys) feeds[key] = f32([...set.shapes.get(key)!], set.values.get(key)!);
  return feeds;
}

function gradsOf(out: Record<string, TensorValue>, keys: readonly string[]): Map<string, Float32Array> {
  return new Map(keys.map((k) => [k, out[weightGradName(k)].data as Float32Array]));
}

/** Side of the VAE stage's training images: the recipe's crop, or the whole frame. */
export function vaeTrainingSize(recipe: TrainRecipe): number {
  const crop = recipe.vae.cropSize;
  if (crop === undefined) return recipe.imageSize;
  const f = 2 ** (recipe.config.vae.channelMult.length - 1);
  if (!Number.isInteger(crop) || crop < f || crop > recipe.imageSize || crop % f !== 0)
    throw new RangeError(
      `VAE crop size must be a multiple of ${f} between ${f} and the image size ${recipe.imageSize}, got ${crop}`,
    );
  return crop;
}

/** The VAE stage: reconstruction + KL on toy images (LDM's autoencoder loss without LPIPS/GAN). */
export async function vaeStage(
  recipe: TrainRecipe,
  weights: TensorSet,
  opts: StageOptions = {},
): Promise<TrainingStage> {
  const { config, imageSize } = recipe;
  const f = 2 ** (config.vae.channelMult.length - 1);
  const S = vaeTrainingSize(recipe);
  const B = recipe.vae.batch;
  const built = buildVaeTrainingGraph(config, weightsOf(weights, VAE_PREFIX), {
    batch: B,
    height: S,
    width: S,
    klWeight: recipe.vae.klWeight,
    edgeWeight: recipe.vae.edgeWeight,
    decoderOnly: recipe.vae.decoderOnly,
    reconstruction: recipe.vae.reconstruction,
  });
  const session = await open(built.builder.graph, recipe, opts);
  const lc = config.vae.latentChannels;
  const noiseShape = [B, lc, S / f, S / f];
  return {
    name: 'vae',
    trainableKeys: built.trainableKeys,
    async step(s) {
      const step = s + (recipe.vae.dataOffset ?? 0);
      const whole = toyBatch(recipe.seed, step, B, imageSize, recipe.world).images;
      const images =
        S === imageSize
          ? whole
          : cropBatch(whole, imageSize, S, f, streamSeed(recipe.seed, STREAM.crops, step));
      const noise = gaussians(streamSeed(recipe.seed, STREAM.vaeNoise, step), B * lc * (S / f) ** 2);
      const out = await session.run({
        [VAE_TRAINING_INPUTS.image]: f32([B, 3, S, S], images),
        [VAE_TRAINING_INPUTS.noise]: f32(noiseShape, noise),
        ...weightFeeds(weights, built.trainableKeys),
      });
      return {
        loss: out[MODEL_TRAINING_LOSS].data[0] as number,
        metrics: {
          rec: out[VAE_TRAINING_OUTPUTS.rec].data[0] as number,
          kl: out[VAE_TRAINING_OUTPUTS.kl].data[0] as number,
        },
        grads: gradsOf(out, built.trainableKeys),
      };
    },
    release: () => session.release(),
  };
}

/** Latents z = 0.18215 · (mean + exp(logvar/2)·n) of a batch through a frozen VAE encoder session. */
export async function encodeLatents(
  encoder: EngineSession,
  batch: ImageBatch,
  noiseSeed: number,
  shape: { batch: number; size: number },
): Promise<{ latents: Float32Array; mean: Float32Array }> {
  const { batch: B, size: S } = shape;
  const out = await encoder.run({ [VAE_ENCODER_INPUT]: f32([B, 3, S, S], batch.images) });
  const mean = out[VAE_ENCODER_OUTPUTS.mean].data as Float32Array;
  const logvar = out[VAE_ENCODER_OUTPUTS.logvar].data as Float32Array;
  const n = gaussians(noiseSeed, mean.length);
  const latents = new Float32Array(mean.length);
  for (let i = 0; i < mean.length; i++)
    latents[i] = SD1_VAE_SCALING_FACTOR * (mean[i] + Math.exp(0.5 * logvar[i]) * n[i]);
  return { latents, mean };
}

/**
 * Step `step`'s diffusion noise [B, C, h, w]: N(0, 1) per element, plus the recipe's offset noise
 * (offsetNoise · one N(0, 1) value per sample and channel) when it has one.
 */
export function diffusionNoise(recipe: TrainRecipe, step: number, shape: readonly number[]): Float32Array {
  const [B, C, h, w] = shape;
  const noise = gaussians(streamSeed(recipe.seed, STREAM.diffusionNoise, step), B * C * h * w);
  const offset = recipe.unet.offsetNoise ?? 0;
  if (offset === 0) return noise;
  const shifts = gaussians(streamSeed(recipe.seed, STREAM.offsetNoise, step), B * C);
  const plane = h * w;
  for (let bc = 0; bc < B * C; bc++) {
    const shift = offset * shifts[bc];
    for (let i = bc * plane; i < (bc + 1) * plane; i++) noise[i] += shift;
  }
  return noise;
}

/** The frozen VAE encoder at a batch size. */
export async function openVaeEncoder(
  recipe: TrainRecipe,
  weights: TensorSet,
  batch: number,
  opts: StageOptions = {},
): Promise<EngineSession> {
  const S = recipe.imageSize;
  const graph = buildVaeEncoderGraph(recipe.config, weightsOf(weights, VAE_PREFIX), {
    batch,
    height: S,
    width: S,
  }).graph;
  return open(graph, recipe, opts);
}

/**
 * The UNet stage: ε-prediction on latents of toy images from the (frozen) VAE, timesteps uniform on
 * 0…999 of SD1's schedule, `captionDropout` of captions replaced by the empty prompt. CLIP is frozen
 * unless the recipe trains it; frozen CLIP's output is cached per caption (the toy world has few).
 */
export async function unetStage(
  recipe: TrainRecipe,
  weights: TensorSet,
  opts: StageOptions = {},
): Promise<TrainingStage> {
  const { config, imageSize: S } = recipe;
  const u = recipe.unet;
  const B = u.batch;
  const f = 2 ** (config.vae.channelMult.length - 1);
  const h = S / f;
  const L = config.text.maxPositions;
  const D = config.text.width;
  const trainText = u.trainTextEncoder;
  const unetWeights = weightsOf(weights, UNET_PREFIX);
  const all = trainText ? new Map([...unetWeights, ...weightsOf(weights, TEXT_PREFIX)]) : unetWeights;
  const built = buildUnetTrainingGraph(config, all, {
    batch: B,
    height: h,
    width: h,
    trainTextEncoder: trainText,
  });
  const sessions: EngineSession[] = [];
  try {
    const session = await open(built.builder.graph, recipe, opts);
    sessions.push(session);
    const encoder = await openVaeEncoder(recipe, weights, B, opts);
    sessions.push(encoder);
    let text: EngineSession | undefined;
    if (!trainText) {
      const graph = buildTextEncoderGraph(config, weightsOf(weights, TEXT_PREFIX), { batch: 1 }).graph;
      text = await open(graph, recipe, opts);
      sessions.push(text);
    }
    const contexts = new Map<string, Float32Array>();
    const idsOf = (caption: string | undefined) =>
      (caption === undefined ? emptyChunk() : tokenize(caption).chunks[0]).ids;
    const contextOf = async (caption: string | undefined): Promise<Float32Array> => {
      const id = caption ?? '';
      let c = contexts.get(id);
      if (!c) {
        const out = await text!.run({
          [TEXT_INPUT]: { dtype: 'int32', shape: [1, L], data: idsOf(caption) },
        });
        c = out[TEXT_OUTPUT].data as Float32Array;
        contexts.set(id, c);
      }
      return c;
    };
    const alphas = sd1Schedule().alphasCumprod;
    const latentShape = [B, config.unet.inChannels, h, h];

    return {
      name: 'unet',
      trainableKeys: built.trainableKeys,
      async step(s) {
        const step = s + (u.dataOffset ?? 0);
        const batch = toyBatch(recipe.seed, step, B, S, recipe.world);
        const { latents } = await encodeLatents(
          encoder,
          batch,
          streamSeed(recipe.seed, STREAM.latentNoise, step),
          {
            batch: B,
            size: S,
          },
        );
        const draw = new Uniforms(streamSeed(recipe.seed, STREAM.timesteps, step));
        const t = new Float32Array(B);
        const sa = new Float32Array(B);
        const sb = new Float32Array(B);
        const captions: (string | undefined)[] = [];
        for (let i = 0; i < B; i++) {
          const ti = draw.int(TRAIN_TIMESTEPS);
          t[i] = ti;
          sa[i] = Math.sqrt(alphas[ti]);
          sb[i] = Math.sqrt(1 - alphas[ti]);
          captions.push(draw.next() < u.captionDropout ? undefined : batch.captions[i]);
        }
        const feeds: Record<string, TensorValue> = {
          [UNET_TRAINING_INPUTS.latents]: f32(latentShape, latents),
          [UNET_TRAINING_INPUTS.noise]: f32(latentShape, diffusionNoise(recipe, step, latentShape)),
          [UNET_TRAINING_INPUTS.timestep]: f32([B], t),
          [UNET_TRAINING_INPUTS.sqrtAlphaBar]: f32([B], sa),
          [UNET_TRAINING_INPUTS.sqrtOneMinusAlphaBar]: f32([B], sb),
          ...weightFeeds(weights, built.trainableKeys),
        };
        if (trainText) {
          const ids = new Int32Array(B * L);
          captions.forEach((c, i) => {
            ids.set(idsOf(c), i * L);
          });
          feeds[UNET_TRAINING_INPUTS.inputIds] = { dtype: 'int32', shape: [B, L], data: ids };
        } else {
          const ctx = new Float32Array(B * L * D);
          for (let i = 0; i < B; i++) ctx.set(await contextOf(captions[i]), i * L * D);
          feeds[UNET_TRAINING_INPUTS.context] = f32([B, L, D], ctx);
        }
        const out = await session.run(feeds);
        return {
          loss: out[MODEL_TRAINING_LOSS].data[0] as number,
          metrics: {},
          grads: gradsOf(out, built.trainableKeys),
        };
      },
      async release() {
        for (const s of sessions) await s.release();
      },
    };
  } catch (e) {
    for (const s of sessions) await s.release();
    throw e;
  }
}
