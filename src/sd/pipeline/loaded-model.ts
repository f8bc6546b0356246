/**
 * One checkpoint loaded in a runtime worker: the open checkpoint (tensor data stays on disk until a
 * graph needs it) and its ONNX sessions (src/sd/graphs/sessions.ts), created lazily — the text
 * encoder once, the UNet once for every batch, latent size, context length and K/V mode (a
 * size-agnostic graph), the VAE encoder and decoder once each. Each session holds its own copy of the
 * weights its graph references, and that is what `bytes()` counts. When more than `maxShapes`
 * UNet/VAE/training graphs were opened (only attention-chunked UNets and training graphs are
 * per-size), every session is released and reopened on demand from the graph cache.
 *
 * Extraction and merge refinement (src/cones/extract/worker.ts) run on the same model: `extraction()`
 * hands out its sessions as `Sd1Sessions` whose runners are counted here like the pipeline's. The
 * training graphs live in a second `Sd1Sessions` over the same open checkpoint, because they need
 * other ORT settings: float32 and no CPU arena / memory pattern (at SD width and 512 px those once
 * pushed one training step past 22 GiB; today's step, in runs of one sample, peaks at 7.6 GiB:
 * bench:cones --full), and weights memory-mapped rather than copied (see `newTrainingSessions`). The model holds one copy of the UNet's
 * weights at a time: opening a UNet graph in one set releases the other set if it holds one
 * (`oneUnetCopy`), unless another task is using the model.
 */
import { createHash } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ExecutionProvider, SessionOptions } from '../../onnx/session.js';
import { openCheckpoint, type SD1Checkpoint } from '../checkpoint/checkpoint.js';
import { f32ToF16Array } from '../checkpoint/dtype.js';
import type { KvMode } from '../graphs/kv.js';
import { type GraphRunnerInfo, loadSd1Sessions, type Sd1Sessions } from '../graphs/sessions.js';
import type { GraphDType } from '../graphs/weights.js';
import type { CachedResource } from './model-cache.js';
import type { CheckpointHandle } from './values.js';

/** What `LoadedModel` needs from the worker's settings (src/shared/runtime-settings.ts). */
export interface ModelSettings {
  /** Folder of built graphs (src/onnx/cache.ts). */
  graphCacheDir: string;
  /** Size cap of that folder (src/onnx/cache-housekeeping.ts; undefined: its default). */
  graphCacheMaxBytes?: number;
  /** Weight dtype of the inference graphs (inputs and outputs are float32 either way). */
  dtype: GraphDType;
  executionProvider: ExecutionProvider;
  /** ORT intra-op threads (undefined: ORT's default). */
  threads?: number;
  /** Distinct UNet/VAE shapes kept open per model before all sessions are recycled. */
  maxShapes: number;
  /**
   * Largest self-attention score map one UNet run may hold, in bytes; a larger batch runs in parts
   * (`Sd1SessionsOptions.attentionMapBytes`). 0 = no limit; undefined: DEFAULT_ATTENTION_MAP_MB on the
   * CPU, no limit on CUDA.
   */
  attentionMapBytes?: number;
  log: (message: string) => void;
}

export interface UnetRunInput {
  sample: Float32Array;
  timestep: Float32Array;
  context: Float32Array;
  batch: number;
  contextLength: number;
  height: number;
  width: number;
  kvMode: KvMode;
  /** Multiplicative float32 K/V masks by canonical key (converted for float16 graphs). */
  kvMasks?: ReadonlyMap<string, Float32Array>;
}

/** What `auto` resolved to in this worker (CUDA or CPU), once known. */
let resolvedProvider: 'cuda' | 'cpu' | undefined;

/** Which of the model's session sets a graph was opened in. */
export type SessionSet = 'inference' | 'training';

/** One graph whose ORT session is open (`LoadedModel.openGraphs`). */
export interface OpenGraph {
  set: SessionSet;
  /** The graph kind (`text-encoder`, `unet`, `vae-encoder`, `vae-decoder`, `unet-train-kv`). */
  kind: string;
  modelPath: string;
  /** Bytes of the weights and constants the graph references (≈ what its ORT session holds). */
  bytes: number;
}

/** The sessions extraction and refinement run on (see `LoadedModel.extraction`). */
export interface ExtractionSessions {
  /** float32 text encoder, VAE and UNet (prior generation). */
  sessions: Sd1Sessions;
  /** Training graphs (`.training(…)`): float32, no CPU arena, no memory pattern. */
  training: Sd1Sessions;
}

const OPENERS = new Set<PropertyKey>(['textEncoder', 'unet', 'vaeEncoder', 'vaeDecoder', 'training']);

/** Openers and graph kinds that hold the UNet's weights (nearly all of a model's bytes). */
const UNET_OPENERS = new Set<PropertyKey>(['unet', 'training']);
const UNET_KINDS = new Set(['unet', 'unet-train-kv']);

export class LoadedModel implements CachedResource {
  private sessions: Sd1Sessions;
  private trainingSessions: Sd1Sessions;
  /** Open graphs by `${set}:${modelPath}`. */
  private readonly opened = new Map<string, OpenGraph>();
  private released = false;
  private readonly halfMasks = new WeakMap<Float32Array, Uint16Array>();

  private constructor(
    readonly checkpoint: SD1Checkpoint,
    readonly handle: CheckpointHandle,
    private readonly settings: ModelSettings,
  ) {
    this.sessions = this.newSessions();
    this.trainingSessions = this.newTrainingSessions();
  }

  static async open(path: string, settings: ModelSettings): Promise<LoadedModel> {
    const checkpoint = await openCheckpoint(path);
    return new LoadedModel(checkpoint, handleOf(checkpoint), settings);
  }

  get config() {
    return this.checkpoint.config;
  }

  /**
   * Bytes of the weights held by the open sessions: each session copies the initializers its graph
   * references (ORT's optimized layouts), so a graph opened in both session sets counts twice, and
   * one size-agnostic UNet counts once however many sizes it ran at. Activations are not included.
   */
  bytes(): number {
    let total = 0;
    for (const g of this.opened.values()) total += g.bytes;
    return total;
  }

  /** The graphs whose sessions are open now. */
  openGraphs(): OpenGraph[] {
    return [...this.opened.values()].map((g) => ({ ...g }));
  }

  /**
   * Sessions for extraction/refinement, for use inside `use()`. Runners they open are tracked like
   * the pipeline's (memory accounting, release by `/free`). With float32 inference graphs (the
   * default) the text encoder, VAE and UNet are the pipeline's own sessions; with float16 ones
   * extraction keeps its float32 graphs, opened beside the training graphs.
   */
  extraction(): ExtractionSessions {
    const training = this.tracked('training', () => this.trainingSessions);
    const sessions =
      this.settings.dtype === 'float32' ? this.tracked('inference', () => this.sessions) : training;
    return { sessions, training };
  }

  /**
   * Releases every session (they reopen from the graph cache on demand) unless another task is using
   * the model too; an extraction calls it between its encoders and its training graph.
   */
  async releaseSessionsIfSoleUser(): Promise<boolean> {
    if (this.active > 1 || this.released) return false;
    await this.releaseSessions();
    return true;
  }

  async release(): Promise<void> {
    this.released = true;
    await this.releaseSessions();
    await this.checkpoint.close();
  }

  async releaseSessions(): Promise<void> {
    await this.releaseSet('inference');
    await this.releaseSet('training');
  }

  /** Releases one session set (it reopens from the graph cache on demand). */
  private async releaseSet(set: SessionSet): Promise<void> {
    const old = set === 'inference' ? this.sessions : this.trainingSessions;
    if (set === 'inference') this.sessions = this.newSessions();
    else this.trainingSessions = this.newTrainingSessions();
    for (const [id, g] of this.opened) if (g.set === set) this.opened.delete(id);
    await old.release();
  }

  /**
   * One copy of the UNet's weights at a time: before a UNet graph opens in one session set, the other
   * set is released if it holds one (unless another task is using the model). Sampling and extraction
   * take turns on a model, so this costs a session reopen at each turn (the inference UNet opens from
   * ORT's optimized copy, the training graph maps its weights) instead of a second resident copy.
   */
  private async oneUnetCopy(set: SessionSet): Promise<void> {
    if (this.active > 1 || this.released) return;
    const other: SessionSet = set === 'inference' ? 'training' : 'inference';
    if (![...this.opened.values()].some((g) => g.set === other && UNET_KINDS.has(g.kind))) return;
    this.settings.log(
      `sd: releasing the ${other} sessions before a ${set} UNet opens (one copy of its weights)`,
    );
    await this.releaseSet(other);
  }

  /** Hidden states `[L, D]` of one token window. */
  async encodeTokens(ids: Int32Array): Promise<Float32Array> {
    const runner = await this.track(
      'inference',
      await this.sessions.textEncoder({ batch: 1, length: ids.length }),
    );
    return (await runner.run(ids)) as Float32Array;
  }

  /** ε̂ for a batch of scaled latents (in parts within the attention-map budget: Sd1Sessions.unet). */
  async unet(input: UnetRunInput): Promise<Float32Array> {
    const { batch, height, width, contextLength, kvMode } = input;
    await this.oneUnetCopy('inference');
    const runner = await this.track(
      'inference',
      await this.sessions.unet({ batch, height, width, contextLength, kvMode }),
    );
    let masks: Map<string, Float32Array | Uint16Array> | undefined;
    if (kvMode !== 'none' && input.kvMasks) {
      masks = new Map();
      for (const [key, mask] of input.kvMasks)
        masks.set(key, this.settings.dtype === 'float16' ? this.half(mask) : mask);
    }
    return (await runner.run({
      sample: input.sample,
      timestep: input.timestep,
      context: input.context,
      kvMasks: masks,
    })) as Float32Array;
  }

  /** VAE decoder on one latent `[1, 4, h, w]` (already divided by the scaling factor) → pixels `[1, 3, 8h, 8w]`. */
  async decode(latent: Float32Array, height: number, width: number): Promise<Float32Array> {
    const runner = await this.track('inference', await this.sessions.vaeDecoder({ batch: 1, height, width }));
    return (await runner.run(latent)) as Float32Array;
  }

  /** VAE encoder on one image `[1, 3, H, W]` in −1..1 → posterior mean `[1, 4, H/8, W/8]` (unscaled). */
  async encode(pixels: Float32Array, height: number, width: number): Promise<Float32Array> {
    const runner = await this.track('inference', await this.sessions.vaeEncoder({ batch: 1, height, width }));
    return (await runner.run(pixels)).mean as Float32Array;
  }

  private newSessions(): Sd1Sessions {
    const { graphCacheDir, dtype, threads, log } = this.settings;
    // Read at every session creation, so the provider `auto` resolved to is reused (no repeated CUDA probe).
    this.sessionOptions = {
      executionProvider: resolvedProvider ?? this.settings.executionProvider,
      threads,
      log,
    };
    return loadSd1Sessions(this.checkpoint, graphCacheDir, {
      dtype,
      session: this.sessionOptions,
      cacheMaxBytes: this.settings.graphCacheMaxBytes,
      attentionMapBytes: this.settings.attentionMapBytes,
    });
  }

  private sessionOptions: SessionOptions = {};

  private newTrainingSessions(): Sd1Sessions {
    const { graphCacheDir, threads, log } = this.settings;
    this.trainingOptions = {
      executionProvider: resolvedProvider ?? this.settings.executionProvider,
      threads,
      cpuArena: false,
      memPattern: false,
      // Weights stay memory-mapped from the model's weight folder instead of copied: at optimization
      // 'all' ORT keeps two copies in a training session (NCHWc-reordered convs for the forward, the
      // originals for the backward). Full-width SD1, 24² latents: process RSS 10.3 GiB and 97 s to
      // create at 'all', 1.0 GiB and 11 s like this (the mapped file pages are shared and
      // reclaimable); step time within the noise of a loaded 2-core machine (mid-width model, 8
      // interleaved steps: 1.03×).
      optimization: 'extended',
      prepack: false,
      log,
    };
    return loadSd1Sessions(this.checkpoint, graphCacheDir, {
      dtype: 'float32',
      session: this.trainingOptions,
      cacheMaxBytes: this.settings.graphCacheMaxBytes,
      // With float16 inference graphs, extraction samples its prior images on this set's float32 UNet.
      attentionMapBytes: this.settings.attentionMapBytes,
    });
  }

  private trainingOptions: SessionOptions = {};

  /**
   * A view of one session set whose graph openers track the runners they return. It always forwards
   * to the model's current set, which `releaseSessions` replaces.
   */
  private tracked(set: SessionSet, current: () => Sd1Sessions): Sd1Sessions {
    return new Proxy(current(), {
      get: (_target, prop) => {
        const target = current();
        const value: unknown = Reflect.get(target, prop, target);
        if (typeof value !== 'function') return value;
        if (!OPENERS.has(prop)) return value.bind(target);
        return async (...args: unknown[]) => {
          if (UNET_OPENERS.has(prop)) await this.oneUnetCopy(set); // releases the other set, never this one
          return this.track(set, (await value.apply(target, args)) as GraphRunnerInfo);
        };
      },
    });
  }

  private half(mask: Float32Array): Uint16Array {
    let h = this.halfMasks.get(mask);
    if (!h) {
      h = f32ToF16Array(mask);
      this.halfMasks.set(mask, h);
    }
    return h;
  }

  /** Records an opened runner and its size on disk. */
  private async track<R extends GraphRunnerInfo>(set: SessionSet, runner: R): Promise<R> {
    if (this.released) throw new Error('model was released');
    const id = `${set}:${runner.modelPath}`;
    if (!this.opened.has(id)) {
      for (const options of [this.sessionOptions, this.trainingOptions]) {
        if (options.executionProvider === 'auto') {
          resolvedProvider = runner.session.provider;
          options.executionProvider = runner.session.provider;
        }
      }
      if (runner.built)
        this.settings.log(`sd: built ${runner.kind} graph in ${Math.round(runner.buildMs)} ms`);
      const bytes = runner.weightBytes ?? folderBytes(dirname(runner.modelPath));
      this.opened.set(id, { set, kind: runner.kind, modelPath: runner.modelPath, bytes });
    }
    return runner;
  }

  /**
   * Runs `work` with the model; afterwards, when nobody else is using it and more than `maxShapes`
   * UNet/VAE shapes are open, releases every session (they reopen from the graph cache on demand).
   */
  async use<R>(work: () => Promise<R>): Promise<R> {
    this.active++;
    try {
      return await work();
    } finally {
      this.active--;
      const shapes = [...this.opened.values()].filter((g) => g.kind !== 'text-encoder').length;
      if (this.active === 0 && shapes > this.settings.maxShapes && !this.released) {
        this.settings.log(
          `sd: ${shapes} graph shapes open (limit ${this.settings.maxShapes}); releasing sessions`,
        );
        await this.releaseSessions();
      }
    }
  }

  private active = 0;
}

function folderBytes(dir: string): number {
  let total = 0;
  try {
    for (const name of readdirSync(dir)) total += statSync(join(dir, name)).size;
  } catch {
    // unknown size: count nothing
  }
  return total;
}

function dominantDtype(checkpoint: SD1Checkpoint): string {
  const counts = new Map<string, number>();
  for (const key of checkpoint.keys) {
    const d = checkpoint.dtypeOf(key);
    counts.set(d, (counts.get(d) ?? 0) + 1);
  }
  return [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? 'F32';
}

/** Cache identity of a checkpoint file: its path, size and modification time. */
export function checkpointFileId(path: string): string {
  const st = statSync(path);
  return createHash('sha256').update(`${path}\0${st.size}\0${st.mtimeMs}`).digest('hex').slice(0, 24);
}

export function handleOf(checkpoint: SD1Checkpoint): CheckpointHandle {
  let parameters = 0;
  for (const key of checkpoint.keys) parameters += checkpoint.shapeOf(key).reduce((a, b) => a * b, 1);
  return {
    id: checkpointFileId(checkpoint.path),
    path: checkpoint.path,
    fingerprint: checkpoint.fingerprint,
    config: {
      modelChannels: checkpoint.config.unet.modelChannels,
      contextDim: checkpoint.config.unet.contextDim,
      latentChannels: checkpoint.config.vae.latentChannels,
      tensorCount: checkpoint.keys.length,
      parameterCount: parameters,
      dtype: dominantDtype(checkpoint),
    },
  };
}
