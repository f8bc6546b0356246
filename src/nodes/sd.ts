/**
 * Stable Diffusion nodes with ComfyUI's class names, input specs and defaults, so the ComfyUI front
 * end's default text-to-image graph runs unchanged (only the checkpoint choice differs). Each node
 * validates its socket values and hands the heavy work to a runtime worker (src/sd/tasks.ts).
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type DemoModel, ensureDemoCheckpoint } from '../sd/demo-checkpoint.js';
import { listCheckpointNames, resolveCheckpointPath } from '../sd/pipeline/checkpoint-files.js';
import { SAMPLER_NAMES, SCHEDULER_NAMES } from '../sd/pipeline/names.js';
import { SD_TASKS } from '../sd/pipeline/protocol.js';
import {
  type Conditioning,
  isSdClip,
  isSdModel,
  isSdVae,
  modelFromCheckpoint,
  type SdClip,
  type SdVae,
} from '../sd/pipeline/values.js';
import { DEMO_CHECKPOINT_NAME } from '../sd/tiny-model.js';
import type { Latent, Tensor } from '../shared/types.js';
import { BACKGROUND_COLOURS, OBJECT_COLOURS, SHAPES, SIZES } from '../toy/vocabulary.js';
import type { NodeContext, NodeDefinition, NodeEnvironment } from './types.js';

/** ComfyUI's MAX_RESOLUTION. */
export const MAX_RESOLUTION = 16384;

function checkpointFolders(env: NodeEnvironment): string[] {
  return env.dirs.models.checkpoints ?? [];
}

/** Where workers keep built ONNX graphs for this data folder. */
export function graphCacheDir(env: NodeEnvironment): string {
  return join(env.dirs.root, 'cache', 'onnx');
}

const demoWrites = new Map<string, Promise<string>>();

/**
 * The folder that gets the demo checkpoint: the service's own, the last one listed. With
 * `--comfyui-dir` the install's folder comes first, and a random-weights file does not belong there.
 */
function demoFolder(env: NodeEnvironment): string | undefined {
  return checkpointFolders(env).at(-1);
}

/**
 * Puts the built-in demo checkpoint (the trained toy-world model the package ships, else random tiny
 * SD1 weights: src/sd/demo-checkpoint.ts) into the service's own checkpoints folder unless it is
 * there; started by the server at start and by the first checkpoint listing, so a fresh install offers
 * a runnable model. Resolves once the file exists. One placement per folder process-wide (services may
 * share a folder): the first call's `model` (default: CONES_DEMO_MODEL, else 'shipped') decides. Each
 * service that sees it in flight tracks it, so its close() waits for it.
 */
export function ensureDemoInFolders(env: NodeEnvironment, model?: DemoModel): Promise<string> | undefined {
  const target = demoFolder(env);
  if (!target) return undefined;
  let write = demoWrites.get(target);
  if (!write) {
    write = ensureDemoCheckpoint(target, { model });
    write.catch(() => demoWrites.delete(target)); // retried on the next listing
    demoWrites.set(target, write);
  }
  env.trackBackgroundWork?.(write);
  return write;
}

function listCheckpoints(env: NodeEnvironment): string[] {
  const names = listCheckpointNames(checkpointFolders(env));
  const pending = ensureDemoInFolders(env);
  // While the demo file is being written it is listed already; loading it waits for the write.
  if (pending && !names.includes(DEMO_CHECKPOINT_NAME)) names.push(DEMO_CHECKPOINT_NAME);
  return names;
}

/** Resolves a checkpoint name, waiting for the demo checkpoint's first write when that is the one asked for. */
async function checkpointPath(env: NodeEnvironment, name: string): Promise<string> {
  if (name === DEMO_CHECKPOINT_NAME) {
    const own = demoFolder(env);
    if (own && !existsSync(join(own, DEMO_CHECKPOINT_NAME))) await ensureDemoInFolders(env);
  }
  const found = resolveCheckpointPath(checkpointFolders(env), name);
  if ('error' in found) throw new Error(found.error);
  return found.path;
}

function progressForwarder(ctx: NodeContext) {
  return (p: { value: number; max: number; preview?: { format: 'JPEG' | 'PNG'; bytes: Uint8Array } }) =>
    ctx.progress(p.value, p.max, p.preview);
}

function requireLatent(value: unknown, input: string): Latent {
  const latent = value as Latent | undefined;
  const samples = latent?.samples;
  if (!samples || !(samples.data instanceof Float32Array) || samples.shape?.length !== 4) {
    throw new Error(`${input} must be a LATENT ({samples: [B, 4, h, w]})`);
  }
  if (samples.shape[1] !== 4)
    throw new Error(`${input} has ${samples.shape[1]} channels; SD1 latents have 4`);
  return latent;
}

function requireConditioning(value: unknown, input: string): Conditioning {
  if (!Array.isArray(value) || value.length === 0)
    throw new Error(`${input} must be a non-empty CONDITIONING`);
  for (const entry of value) {
    const e = entry as { embedding?: Tensor };
    if (!e?.embedding || !(e.embedding.data instanceof Float32Array) || e.embedding.shape?.length !== 3) {
      throw new Error(`${input} must be a CONDITIONING from an SD1 text encoder`);
    }
  }
  return value as Conditioning;
}

function requireImage(value: unknown, input: string): Tensor {
  const t = value as Tensor | undefined;
  if (!t || !(t.data instanceof Float32Array) || t.shape?.length !== 4) {
    throw new Error(`${input} must be an IMAGE ([B, H, W, C])`);
  }
  return t;
}

/** What the demo model is, from the toy world's own vocabulary lists so it cannot drift from them. */
const CKPT_NAME_TOOLTIP =
  `The name of the checkpoint (model) to load. ${DEMO_CHECKPOINT_NAME} is the built-in demo. Where the ` +
  'package ships the trained toy model, it is a small SD1-architecture model trained on a toy world of ' +
  'coloured shapes on plain backgrounds, drawn at 64×64 px, which understands prompts like ' +
  '"a photo of a large red circle on a blue background" ' +
  `(shapes: ${SHAPES.join(', ')}; colours: ${OBJECT_COLOURS.join(', ')}; ` +
  `backgrounds: ${BACKGROUND_COLOURS.join(', ')}; sizes: ${SIZES.join(', ')}) and nothing else. ` +
  'Where the package ships no trained file, the demo has RANDOM weights and draws noise. ' +
  'For real pictures add an SD1 checkpoint to models/checkpoints.';

export const CheckpointLoaderSimple: NodeDefinition = {
  name: 'CheckpointLoaderSimple',
  pythonModule: 'nodes',
  displayName: 'Load Checkpoint',
  category: 'loaders',
  description: 'Loads a diffusion model checkpoint, diffusion models are used to denoise latents.',
  inputs: {
    required: {
      ckpt_name: {
        type: 'COMBO',
        options: listCheckpoints,
        tooltip: CKPT_NAME_TOOLTIP,
      },
    },
  },
  outputs: [
    { type: 'MODEL', tooltip: 'The model used for denoising latents.' },
    { type: 'CLIP', tooltip: 'The CLIP model used for encoding text prompts.' },
    { type: 'VAE', tooltip: 'The VAE model used for encoding and decoding images to and from latent space.' },
  ],
  async fingerprint(inputs, env) {
    try {
      const path = await checkpointPath(env, String(inputs.ckpt_name));
      const st = statSync(path);
      return `${path}:${st.size}:${st.mtimeMs}`;
    } catch {
      return 'missing';
    }
  },
  async validate(inputs, env) {
    try {
      await checkpointPath(env, String(inputs.ckpt_name));
      return null;
    } catch (error) {
      return (error as Error).message;
    }
  },
  async execute(inputs, ctx) {
    const path = await checkpointPath(ctx.env, String(inputs.ckpt_name));
    const handle = await ctx.runtime.call(
      SD_TASKS.loadCheckpoint,
      { path, graphCacheDir: graphCacheDir(ctx.env) },
      { signal: ctx.signal },
    );
    const clip: SdClip = { kind: 'sd1.clip', checkpoint: handle };
    const vae: SdVae = { kind: 'sd1.vae', checkpoint: handle };
    return { outputs: [modelFromCheckpoint(handle), clip, vae] };
  },
};

export const CLIPTextEncode: NodeDefinition = {
  name: 'CLIPTextEncode',
  pythonModule: 'nodes',
  displayName: 'CLIP Text Encode (Prompt)',
  category: 'conditioning',
  description:
    'Encodes a text prompt using a CLIP model into an embedding that can be used to guide the diffusion model towards generating specific images.',
  inputs: {
    required: {
      text: { type: 'STRING', multiline: true, dynamicPrompts: true, tooltip: 'The text to be encoded.' },
      clip: { type: 'CLIP', tooltip: 'The CLIP model used for encoding the text.' },
    },
  },
  outputs: [
    {
      type: 'CONDITIONING',
      tooltip: 'A conditioning containing the embedded text used to guide the diffusion model.',
    },
  ],
  async execute(inputs, ctx) {
    const clip = inputs.clip;
    if (!isSdClip(clip)) {
      throw new Error(
        'ERROR: clip input is invalid: None\n\nIf the clip is from a checkpoint loader node your checkpoint does not contain a valid clip or text encoder model.',
      );
    }
    const text = String(inputs.text ?? '');
    const result = await ctx.runtime.call(SD_TASKS.encodeText, { clip, text }, { signal: ctx.signal });
    const conditioning: Conditioning = [{ embedding: result.embedding, text }];
    return { outputs: [conditioning] };
  },
};

export const EmptyLatentImage: NodeDefinition = {
  name: 'EmptyLatentImage',
  pythonModule: 'nodes',
  displayName: 'Empty Latent Image',
  category: 'latent',
  description: 'Create a new batch of empty latent images to be denoised via sampling.',
  inputs: {
    required: {
      width: {
        type: 'INT',
        default: 512,
        min: 16,
        max: MAX_RESOLUTION,
        step: 8,
        tooltip: 'The width of the latent images in pixels.',
      },
      height: {
        type: 'INT',
        default: 512,
        min: 16,
        max: MAX_RESOLUTION,
        step: 8,
        tooltip: 'The height of the latent images in pixels.',
      },
      batch_size: {
        type: 'INT',
        default: 1,
        min: 1,
        max: 4096,
        tooltip: 'The number of latent images in the batch.',
      },
    },
  },
  outputs: [{ type: 'LATENT', tooltip: 'The empty latent image batch.' }],
  async execute(inputs) {
    const width = Number(inputs.width);
    const height = Number(inputs.height);
    const batch = Number(inputs.batch_size);
    const shape = [batch, 4, Math.floor(height / 8), Math.floor(width / 8)];
    const latent: Latent = { samples: { data: new Float32Array(shape[0] * 4 * shape[2] * shape[3]), shape } };
    return { outputs: [latent] };
  },
};

export const KSampler: NodeDefinition = {
  name: 'KSampler',
  pythonModule: 'nodes',
  displayName: 'KSampler',
  category: 'sampling',
  description: 'Uses the provided model, positive and negative conditioning to denoise the latent image.',
  inputs: {
    required: {
      model: { type: 'MODEL', tooltip: 'The model used for denoising the input latent.' },
      seed: {
        type: 'INT',
        default: 0,
        min: 0,
        // ComfyUI's 0xffffffffffffffff; as a double it serializes as 18446744073709552000.
        max: 2 ** 64 - 1,
        controlAfterGenerate: true,
        tooltip: 'The random seed used for creating the noise.',
      },
      steps: {
        type: 'INT',
        default: 20,
        min: 1,
        max: 10000,
        tooltip: 'The number of steps used in the denoising process.',
      },
      cfg: {
        type: 'FLOAT',
        default: 8.0,
        min: 0.0,
        max: 100.0,
        step: 0.1,
        round: 0.01,
        tooltip:
          'The Classifier-Free Guidance scale balances creativity and adherence to the prompt. Higher values result in images more closely matching the prompt however too high values will negatively impact quality.',
      },
      sampler_name: {
        type: 'COMBO',
        options: SAMPLER_NAMES,
        tooltip:
          'The algorithm used when sampling, this can affect the quality, speed, and style of the generated output.',
      },
      scheduler: {
        type: 'COMBO',
        options: SCHEDULER_NAMES,
        tooltip: 'The scheduler controls how noise is gradually removed to form the image.',
      },
      positive: {
        type: 'CONDITIONING',
        tooltip: 'The conditioning describing the attributes you want to include in the image.',
      },
      negative: {
        type: 'CONDITIONING',
        tooltip: 'The conditioning describing the attributes you want to exclude from the image.',
      },
      latent_image: { type: 'LATENT', tooltip: 'The latent image to denoise.' },
      denoise: {
        type: 'FLOAT',
        default: 1.0,
        min: 0.0,
        max: 1.0,
        step: 0.01,
        tooltip:
          'The amount of denoising applied, lower values will maintain the structure of the initial image allowing for image to image sampling.',
      },
    },
  },
  outputs: [{ type: 'LATENT', tooltip: 'The denoised latent.' }],
  async execute(inputs, ctx) {
    const model = inputs.model;
    if (!isSdModel(model)) throw new Error('model input is not an SD1 MODEL');
    const latent = requireLatent(inputs.latent_image, 'latent_image');
    const positive = requireConditioning(inputs.positive, 'positive');
    const negative = requireConditioning(inputs.negative, 'negative');
    const result = await ctx.runtime.call(
      SD_TASKS.sample,
      {
        model,
        positive,
        negative,
        latent: latent.samples,
        seed: Number(inputs.seed),
        steps: Number(inputs.steps),
        cfg: Number(inputs.cfg),
        samplerName: String(inputs.sampler_name),
        scheduler: String(inputs.scheduler),
        denoise: Number(inputs.denoise),
      },
      { signal: ctx.signal, onProgress: progressForwarder(ctx) },
    );
    const out: Latent = { ...latent, samples: result.samples };
    return { outputs: [out] };
  },
};

export const VAEDecode: NodeDefinition = {
  name: 'VAEDecode',
  pythonModule: 'nodes',
  displayName: 'VAE Decode',
  category: 'latent',
  description: 'Decodes latent images back into pixel space images.',
  inputs: {
    required: {
      samples: { type: 'LATENT', tooltip: 'The latent to be decoded.' },
      vae: { type: 'VAE', tooltip: 'The VAE model used for decoding the latent.' },
    },
  },
  outputs: [{ type: 'IMAGE', tooltip: 'The decoded image.' }],
  async execute(inputs, ctx) {
    const vae = inputs.vae;
    if (!isSdVae(vae)) {
      throw new Error(
        'ERROR: VAE is invalid: None\n\nIf the VAE is from a checkpoint loader node your checkpoint does not contain a valid VAE.',
      );
    }
    const latent = requireLatent(inputs.samples, 'samples');
    const result = await ctx.runtime.call(
      SD_TASKS.vaeDecode,
      { vae, samples: latent.samples },
      { signal: ctx.signal, onProgress: progressForwarder(ctx) },
    );
    return { outputs: [result.image] };
  },
};

export const VAEEncode: NodeDefinition = {
  name: 'VAEEncode',
  pythonModule: 'nodes',
  displayName: 'VAE Encode',
  category: 'latent',
  description: 'Encodes pixel space images into latent images using the VAE.',
  inputs: {
    required: {
      pixels: { type: 'IMAGE' },
      vae: { type: 'VAE' },
    },
  },
  outputs: [{ type: 'LATENT' }],
  async execute(inputs, ctx) {
    const vae = inputs.vae;
    if (!isSdVae(vae)) throw new Error('vae input is not an SD1 VAE');
    const image = requireImage(inputs.pixels, 'pixels');
    const result = await ctx.runtime.call(
      SD_TASKS.vaeEncode,
      { vae, image },
      { signal: ctx.signal, onProgress: progressForwarder(ctx) },
    );
    const latent: Latent = { samples: result.samples };
    return { outputs: [latent] };
  },
};

/** The SD node family, in menu order. */
export const sdNodes: NodeDefinition[] = [
  CheckpointLoaderSimple,
  CLIPTextEncode,
  EmptyLatentImage,
  KSampler,
  VAEDecode,
  VAEEncode,
];
