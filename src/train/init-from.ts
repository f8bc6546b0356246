/**
 * `--init-from`: an exported toy checkpoint (F32 or F16) as the starting weights of a new run. The
 * file must carry its recipe (`cones.train.recipe`, written by export.ts) and match that recipe's
 * architecture tensor for tensor; its VAE already has the latent scale folded in, so its
 * `cones.train.latent_scale` is carried over, and its UNet is the EMA of the run that wrote it.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { basename } from 'node:path';
import { SafetensorsFile } from '../sd/checkpoint/safetensors-reader.js';
import { sd1TensorShapes } from '../sd/checkpoint/sd1-tensors.js';
import type { SD1Config } from '../sd/config.js';
import { TrainError } from './errors.js';
import { historyOf, type InitSource, type RunRecord } from './lineage.js';
import type { TensorSet } from './model-init.js';
import type { TrainRecipe } from './recipe.js';

const RECIPE_KEY = 'cones.train.recipe';
const LATENT_SCALE_KEY = 'cones.train.latent_scale';

export interface InitCheckpoint {
  source: InitSource;
  recipe: TrainRecipe;
  weights: TensorSet;
  latentScale?: number;
  /** The runs that trained it, oldest first. */
  history: RunRecord[];
}

async function openExport(path: string): Promise<SafetensorsFile> {
  if (!existsSync(path)) throw new TrainError(`--init-from: ${path} does not exist`);
  try {
    return await SafetensorsFile.open(path);
  } catch (error) {
    throw new TrainError(`--init-from: ${path}: ${(error as Error).message}`);
  }
}

function recipeIn(file: SafetensorsFile): TrainRecipe {
  const json = file.metadata[RECIPE_KEY];
  if (json === undefined)
    throw new TrainError(
      `--init-from: ${file.path} has no ${RECIPE_KEY} metadata: it takes a checkpoint exported by train-toy-model`,
    );
  try {
    return JSON.parse(json) as TrainRecipe;
  } catch (error) {
    throw new TrainError(`--init-from: ${file.path}: unreadable ${RECIPE_KEY} (${(error as Error).message})`);
  }
}

/** The recipe an exported checkpoint was trained with (the defaults of a run started from it). */
export async function readCheckpointRecipe(path: string): Promise<TrainRecipe> {
  const file = await openExport(path);
  try {
    return recipeIn(file);
  } finally {
    await file.close();
  }
}

/** The first path at which two JSON-like values differ ('' when equal; key order ignored). */
export function firstDifference(a: unknown, b: unknown, path = ''): string | undefined {
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null)
    return Object.is(a, b) ? undefined : path || '(value)';
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const key of [...keys].sort()) {
    const d = firstDifference(
      (a as Record<string, unknown>)[key],
      (b as Record<string, unknown>)[key],
      path ? `${path}.${key}` : key,
    );
    if (d !== undefined) return d;
  }
  return undefined;
}

async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Reads an exported checkpoint as the start of a run with `config`: refuses a file without a recipe,
 * one trained with another config, or one whose tensors do not match its config.
 */
export async function readInitCheckpoint(path: string, config: SD1Config): Promise<InitCheckpoint> {
  const file = await openExport(path);
  try {
    const recipe = recipeIn(file);
    const differs = firstDifference(recipe.config, config);
    if (differs !== undefined)
      throw new TrainError(
        `--init-from: ${path} was trained with another config (differs in config.${differs}) than this run's`,
      );
    const shapes = sd1TensorShapes(config);
    const values = new Map<string, Float32Array>();
    for (const [key, shape] of shapes) {
      const info = file.tensors.get(key);
      if (!info) throw new TrainError(`--init-from: ${path} lacks ${key} (not a toy export of its recipe)`);
      if (info.shape.join(',') !== shape.join(','))
        throw new TrainError(
          `--init-from: ${path}: ${key} is [${info.shape}], its recipe's config says [${shape}]`,
        );
      values.set(key, await file.readF32(key));
    }
    const scale = file.metadata[LATENT_SCALE_KEY];
    const latentScale = scale === undefined ? undefined : Number(scale);
    if (latentScale !== undefined && !(latentScale > 0))
      throw new TrainError(`--init-from: ${path}: ${LATENT_SCALE_KEY} is ${scale}`);
    let history: RunRecord[];
    try {
      history = historyOf(file.metadata, recipe);
    } catch (error) {
      throw new TrainError(`--init-from: ${path}: unreadable history (${(error as Error).message})`);
    }
    return {
      source: { file: basename(path), sha256: await sha256Of(path) },
      recipe,
      weights: { shapes, values },
      ...(latentScale !== undefined ? { latentScale } : {}),
      history,
    };
  } finally {
    await file.close();
  }
}
