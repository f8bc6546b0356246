/**
 * The SD tasks as they run inside a runtime worker: one model cache per worker (LRU with a memory
 * budget), handlers for load / encode / sample / decode / encode-image / free / stats. Loaded lazily
 * by src/sd/tasks.ts. Extract Concept and merge refinement use the same cache (`withTaskModel`), so a
 * checkpoint is loaded once per worker whichever task asks for it.
 */

import { statSync } from 'node:fs';
import { onUnloadModels } from '../../shared/model-unload.js';
import type { RuntimeSettings } from '../../shared/runtime-settings.js';
import type { TaskContext, TaskHandler, TaskOutput } from '../../shared/tasks.js';
import type { Tensor } from '../../shared/types.js';
import { latentPreviewJpeg } from '../latent-preview.js';
import { emptyChunk, tokenize } from '../tokenizer/index.js';
import type { ContextEntry } from './cfg.js';
import { imageToVaePixels, vaePixelsToImage } from './image-tensors.js';
import { ksample } from './ksampler.js';
import { checkPatchFingerprints, kvMasks, scopeForPatches } from './kv-patches.js';
import { checkpointFileId, LoadedModel, type ModelSettings } from './loaded-model.js';
import { ModelCache } from './model-cache.js';
import type { LoadCheckpointPayload, ModelCacheStats, SdTasks } from './protocol.js';
import { hasNonUnitWeights, weightAndConcatChunks } from './token-weights.js';
import type { CheckpointHandle, Conditioning } from './values.js';

let logSink: (message: string) => void = () => {};
/** The worker's model cache, made on first use with the budget of the worker's settings. */
let cache: ModelCache<LoadedModel> | undefined;
function modelCache(settings: RuntimeSettings): ModelCache<LoadedModel> {
  cache ??= new ModelCache<LoadedModel>(settings.modelMemoryBytes);
  return cache;
}
// ComfyUI's POST /free {"unload_models": true} reaches every worker through this hook.
onUnloadModels(async () => {
  await cache?.releaseAll();
});

/** Loads (or finds) the model of a handle and runs `work` with it. */
async function withModel<R>(
  handle: CheckpointHandle | LoadCheckpointPayload,
  ctx: TaskContext,
  work: (model: LoadedModel) => Promise<R>,
): Promise<R> {
  const path = handle.path;
  let id: string;
  let size: number;
  try {
    id = checkpointFileId(path);
    size = statSync(path).size;
  } catch (error) {
    throw new Error(`checkpoint ${path} is not readable: ${(error as Error).message}`);
  }
  const {
    executionProvider,
    dtype,
    threads,
    maxShapes,
    attentionMapBytes,
    graphCacheDir,
    graphCacheMaxBytes,
  } = ctx.settings;
  const settings: ModelSettings = {
    executionProvider,
    dtype,
    threads,
    maxShapes,
    attentionMapBytes,
    graphCacheDir: handle.graphCacheDir || graphCacheDir,
    graphCacheMaxBytes,
    log: logSink,
  };
  return modelCache(ctx.settings).with(
    id,
    () => LoadedModel.open(path, settings),
    async (model) => {
      if ('fingerprint' in handle && handle.fingerprint !== model.handle.fingerprint) {
        throw new Error(`checkpoint ${path} changed since it was loaded; run its loader again`);
      }
      return model.use(() => work(model));
    },
    size,
  );
}

/**
 * Runs `work` with the worker's loaded model of `handle` (loading it on a miss), pinned until `work`
 * settles; its log lines go to `ctx`. For tasks outside the SD pipeline (Extract Concept, refinement).
 */
export function withTaskModel<R>(
  handle: CheckpointHandle,
  ctx: TaskContext,
  work: (model: LoadedModel) => Promise<R>,
): Promise<R> {
  setLog(ctx);
  return withModel(handle, ctx, work);
}

/** Releases every loaded model not in use (what `/free` with `unload_models` does). */
export function releaseModels(): Promise<string[]> {
  return cache?.releaseAll() ?? Promise.resolve([]);
}

/** What the worker's model cache holds now (introspection: tests, diagnostics). */
function modelCacheStats(settings: RuntimeSettings): ModelCacheStats {
  const cache = modelCache(settings);
  return {
    budgetBytes: settings.modelMemoryBytes,
    usedBytes: cache.usedBytes(),
    models: cache.loaded().map(({ key, value, pins }) => ({
      key,
      path: value.handle.path,
      pins,
      bytes: value.bytes(),
      graphs: value.openGraphs(),
    })),
  };
}

const out = <R>(result: R, transfer: ArrayBuffer[] = []): TaskOutput<R> => ({ result, transfer });

function bufferOf(data: Float32Array): ArrayBuffer {
  return data.buffer as ArrayBuffer;
}

function setLog(ctx: TaskContext): void {
  logSink = (m) => ctx.log(m);
}

const loadCheckpoint: TaskHandler<SdTasks['sd.loadCheckpoint']> = async (payload, ctx) => {
  setLog(ctx);
  const handle = await withModel(payload, ctx, async (model) => model.handle);
  return out({ ...handle, ...(payload.graphCacheDir ? { graphCacheDir: payload.graphCacheDir } : {}) });
};

const encodeText: TaskHandler<SdTasks['sd.encodeText']> = async ({ clip, text }, ctx) => {
  setLog(ctx);
  if (typeof text !== 'string') throw new Error('text must be a string');
  return withModel(clip.checkpoint, ctx, async (model) => {
    const { chunks } = tokenize(text);
    const weights = chunks.map((c) => Array.from(c.weights));
    const hidden: Float32Array[] = [];
    for (const chunk of chunks) {
      ctx.checkInterrupt();
      hidden.push(await model.encodeTokens(chunk.ids));
    }
    const empty = hasNonUnitWeights(weights) ? await model.encodeTokens(emptyChunk().ids) : undefined;
    const width = model.config.text.width;
    const data = weightAndConcatChunks(hidden, weights, empty, width);
    const embedding: Tensor = { data, shape: [1, data.length / width, width] };
    return out({ embedding }, [bufferOf(data)]);
  });
};

function contextEntries(conditioning: Conditioning, width: number, name: string): ContextEntry[] {
  return conditioning.map((entry) => {
    const [one, length, w] = entry.embedding.shape;
    if (one !== 1 || w !== width) {
      throw new Error(
        `${name} conditioning has shape [${entry.embedding.shape.join(', ')}]; this model needs [1, L, ${width}]`,
      );
    }
    return { data: entry.embedding.data, length };
  });
}

/** JSON numbers above 2⁵³ cannot be passed to torch's seeding as numbers: use their exact integer value. */
function seedOf(seed: number): number | bigint {
  if (!Number.isInteger(seed)) throw new Error(`seed must be an integer, got ${seed}`);
  return Number.isSafeInteger(seed) ? seed : BigInt(seed);
}

const sample: TaskHandler<SdTasks['sd.sample']> = async (payload, ctx) => {
  setLog(ctx);
  const { model: value, latent } = payload;
  return withModel(value.checkpoint, ctx, async (model) => {
    const config = model.config;
    const [, channels, height, width] = latent.shape;
    if (channels !== config.unet.inChannels) {
      throw new Error(`latent has ${channels} channels; this model's UNet takes ${config.unet.inChannels}`);
    }
    checkPatchFingerprints(value.patches, model.handle.fingerprint);
    const kvMode = scopeForPatches(value.patches);
    let masks: Map<string, Float32Array> | undefined;
    if (kvMode !== 'none') {
      const { kvWeights } = await import('../graphs/kv.js');
      const shapes = new Map(kvWeights(config.unet, kvMode).map((w) => [w.key, w.shape] as const));
      masks = kvMasks(value.patches, shapes);
    }
    const width77 = config.unet.contextDim;
    const previews = payload.previews !== false;
    const result = await ksample({
      eps: ({ sample: x, timestep, context, batch: n, contextLength }) =>
        model.unet({
          sample: x,
          timestep,
          context,
          batch: n,
          contextLength,
          height,
          width,
          kvMode,
          kvMasks: masks,
        }),
      positive: contextEntries(payload.positive, width77, 'positive'),
      negative: contextEntries(payload.negative, width77, 'negative'),
      contextWidth: width77,
      latent: latent.data,
      latentShape: latent.shape,
      seed: seedOf(payload.seed),
      steps: payload.steps,
      cfg: payload.cfg,
      samplerName: payload.samplerName,
      scheduler: payload.scheduler,
      denoise: payload.denoise,
      scalingFactor: config.vae.scalingFactor,
      checkInterrupt: () => ctx.checkInterrupt(),
      onStep: async (step, total, denoised) => {
        // A fresh copy: the worker transfers `bytes.buffer`, which must not be a shared pool slab.
        const bytes = previews ? new Uint8Array(await latentPreviewJpeg(denoised, height, width)) : undefined;
        ctx.progress(step, total, bytes ? { format: 'JPEG', bytes } : undefined);
      },
    });
    return out({ samples: { data: result, shape: [...latent.shape] } }, [bufferOf(result)]);
  });
};

const vaeDecode: TaskHandler<SdTasks['sd.vaeDecode']> = async ({ vae, samples }, ctx) => {
  setLog(ctx);
  return withModel(vae.checkpoint, ctx, async (model) => {
    const [batch, channels, height, width] = samples.shape;
    const v = model.config.vae;
    if (samples.shape.length !== 4 || channels !== v.latentChannels) {
      throw new Error(`samples must be [B, ${v.latentChannels}, h, w], got [${samples.shape.join(', ')}]`);
    }
    const per = channels * height * width;
    const pixelsPer = 3 * height * 8 * width * 8;
    const pixels = new Float32Array(batch * pixelsPer);
    for (let b = 0; b < batch; b++) {
      ctx.checkInterrupt();
      // ComfyUI keeps LATENT in VAE space: the decoder gets the latent as is (process_latent_out already applied).
      const one = samples.data.subarray(b * per, (b + 1) * per);
      pixels.set(await model.decode(Float32Array.from(one), height, width), b * pixelsPer);
      ctx.progress(b + 1, batch);
    }
    const image = vaePixelsToImage({ data: pixels, shape: [batch, 3, height * 8, width * 8] });
    return out({ image }, [bufferOf(image.data)]);
  });
};

const vaeEncode: TaskHandler<SdTasks['sd.vaeEncode']> = async ({ vae, image }, ctx) => {
  setLog(ctx);
  return withModel(vae.checkpoint, ctx, async (model) => {
    const pixels = imageToVaePixels(image);
    const [batch, , height, width] = pixels.shape;
    const c = model.config.vae.latentChannels;
    const per = 3 * height * width;
    const latentPer = c * (height / 8) * (width / 8);
    const data = new Float32Array(batch * latentPer);
    for (let b = 0; b < batch; b++) {
      ctx.checkInterrupt();
      data.set(await model.encode(pixels.data.slice(b * per, (b + 1) * per), height, width), b * latentPer);
      ctx.progress(b + 1, batch);
    }
    return out({ samples: { data, shape: [batch, c, height / 8, width / 8] } }, [bufferOf(data)]);
  });
};

const free: TaskHandler<SdTasks['sd.free']> = async (_payload, ctx) => {
  setLog(ctx);
  const released = (await cache?.releaseAll()) ?? [];
  return out({ released });
};

const stats: TaskHandler<SdTasks['sd.debugModels']> = async (_payload, ctx) =>
  out(modelCacheStats(ctx.settings));

/** The SD handlers by short name (src/sd/tasks.ts registers them under their task names). */
export const handlers = { loadCheckpoint, encodeText, sample, vaeDecode, vaeEncode, free, stats };
