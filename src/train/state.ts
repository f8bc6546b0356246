/**
 * Training state on disk: every model weight, the optimiser's moments for the running stage, the
 * UNet EMA, the stage and step, the recipe and the lineage (`--init-from`), in one safetensors file (tensor names `w:`, `m:`,
 * `v:`, `ema:` + canonical key). A SHA-256 of all tensor bytes in file order sits in `__metadata__`
 * and is checked on load; the file is written to a temporary name, fsynced, then renamed into place.
 */
import { createHash } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { SafetensorsFile } from '../sd/checkpoint/safetensors-reader.js';
import { safetensorsOrder, type TensorSpec, writeSafetensors } from '../sd/checkpoint/safetensors-writer.js';
import type { Lineage } from './lineage.js';
import type { TensorSet } from './model-init.js';
import type { AdamWSlot } from './optimizer.js';
import type { StageName, TrainRecipe } from './recipe.js';

export const TRAIN_STATE_FORMAT = '1';

export interface TrainState {
  recipe: TrainRecipe;
  /** The stage running (or about to run) and how many of its steps are done. */
  stage: StageName;
  step: number;
  /** Every weight of the model (trained, frozen and not yet trained). */
  weights: TensorSet;
  /** AdamW moments of the running stage's trainable weights. */
  slots: Map<string, AdamWSlot>;
  /** EMA of the UNet weights (UNet stage only). */
  ema: Map<string, Float32Array>;
  /** Seconds spent training so far, over every run. */
  wallSeconds: number;
  /** The latent normalisation folded into the VAE after its stage (latent-scale.ts), once it was. */
  latentScale?: number;
  /** The checkpoint the run started from (`--init-from`) and the runs behind it; absent: from scratch. */
  lineage?: Lineage;
}

const META = {
  format: 'cones.train.format',
  recipe: 'cones.train.recipe',
  stage: 'cones.train.stage',
  step: 'cones.train.step',
  wall: 'cones.train.wall_seconds',
  latentScale: 'cones.train.latent_scale',
  lineage: 'cones.train.lineage',
  sha256: 'cones.train.sha256',
} as const;

function tensorsOf(state: TrainState): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [k, v] of state.weights.values) out.set(`w:${k}`, v);
  for (const [k, s] of state.slots) {
    out.set(`m:${k}`, s.m);
    out.set(`v:${k}`, s.v);
  }
  for (const [k, v] of state.ema) out.set(`ema:${k}`, v);
  return out;
}

function shapeOf(state: TrainState, name: string): readonly number[] {
  const key = name.slice(name.indexOf(':') + 1);
  const shape = state.weights.shapes.get(key);
  if (!shape) throw new Error(`training state: no shape for ${key}`);
  return shape;
}

function bytesOf(a: Float32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

export async function saveTrainState(path: string, state: TrainState): Promise<void> {
  const tensors = tensorsOf(state);
  const specs: TensorSpec[] = [...tensors.keys()].map((name) => ({
    name,
    dtype: 'F32',
    shape: shapeOf(state, name),
  }));
  const hash = createHash('sha256');
  for (const spec of safetensorsOrder(specs)) hash.update(bytesOf(tensors.get(spec.name)!));
  const metadata = {
    [META.format]: TRAIN_STATE_FORMAT,
    [META.recipe]: JSON.stringify(state.recipe),
    [META.stage]: state.stage,
    [META.step]: String(state.step),
    [META.wall]: String(state.wallSeconds),
    ...(state.latentScale !== undefined ? { [META.latentScale]: String(state.latentScale) } : {}),
    ...(state.lineage ? { [META.lineage]: JSON.stringify(state.lineage) } : {}),
    [META.sha256]: hash.digest('hex'),
  };
  const temp = `${path}.partial`;
  try {
    await writeSafetensors(temp, specs, (spec) => tensors.get(spec.name)!, { metadata });
    const handle = await open(temp, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

export class TrainStateError extends Error {}

export async function loadTrainState(path: string): Promise<TrainState> {
  const file = await SafetensorsFile.open(path);
  try {
    const meta = file.metadata;
    if (meta[META.format] !== TRAIN_STATE_FORMAT)
      throw new TrainStateError(`${path}: not a training state of format ${TRAIN_STATE_FORMAT}`);
    const hash = createHash('sha256');
    const shapes = new Map<string, readonly number[]>();
    const values = new Map<string, Float32Array>();
    const m = new Map<string, Float32Array>();
    const v = new Map<string, Float32Array>();
    const ema = new Map<string, Float32Array>();
    const infos = [...file.tensors.values()].sort((a, b) => a.begin - b.begin);
    for (const info of infos) {
      if (info.dtype !== 'F32')
        throw new TrainStateError(`${path}: tensor ${info.name} is ${info.dtype}, not F32`);
      const raw = await file.readRaw(info.name);
      hash.update(raw);
      const data = new Float32Array(raw.byteLength / 4);
      new Uint8Array(data.buffer).set(raw);
      const colon = info.name.indexOf(':');
      const kind = info.name.slice(0, colon);
      const key = info.name.slice(colon + 1);
      if (kind === 'w') {
        values.set(key, data);
        shapes.set(key, info.shape);
      } else if (kind === 'm') m.set(key, data);
      else if (kind === 'v') v.set(key, data);
      else if (kind === 'ema') ema.set(key, data);
      else throw new TrainStateError(`${path}: unexpected tensor ${info.name}`);
    }
    if (hash.digest('hex') !== meta[META.sha256])
      throw new TrainStateError(`${path}: checksum mismatch (damaged or truncated training state)`);
    const slots = new Map<string, AdamWSlot>();
    for (const [key, mk] of m) {
      const vk = v.get(key);
      if (!vk) throw new TrainStateError(`${path}: ${key} has a first moment but no second`);
      slots.set(key, { m: mk, v: vk });
    }
    const stage = meta[META.stage];
    if (stage !== 'vae' && stage !== 'unet') throw new TrainStateError(`${path}: unknown stage ${stage}`);
    return {
      recipe: JSON.parse(meta[META.recipe]) as TrainRecipe,
      stage,
      step: Number(meta[META.step]),
      weights: { shapes, values },
      slots,
      ema,
      wallSeconds: Number(meta[META.wall] ?? 0),
      ...(meta[META.latentScale] !== undefined ? { latentScale: Number(meta[META.latentScale]) } : {}),
      ...(meta[META.lineage] !== undefined ? { lineage: JSON.parse(meta[META.lineage]) as Lineage } : {}),
    };
  } finally {
    await file.close();
  }
}
