/**
 * SD1 graphs as ready-to-run sessions: each graph is built once per (model fingerprint, kind, dtype,
 * options — and shapes, for the graphs that are not size-agnostic), serialized with external weights
 * into the graph cache, and opened by path. The UNet and VAE graphs are size-agnostic: one graph and
 * one ORT session (one copy of the weights) serve every batch, latent size and context length. Runners
 * take and return plain typed arrays; one ORT session is kept per distinct graph.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type CacheEntry, writeEntryMeta } from '../../onnx/cache-housekeeping.js';
import {
  BYTES_PER_ELEMENT,
  createSession,
  type EngineSession,
  type Graph,
  GraphCache,
  type GraphKey,
  graphKeyHash,
  lowerForFloat64,
  type SessionOptions,
  type TensorData,
  type TensorValue,
} from '../../onnx/index.js';
import type { SD1Config } from '../config.js';
import { type KvMode, kvGradName, kvInputName, kvWeights } from './kv.js';
import { ioDtype } from './layers.js';
import {
  buildTextEncoderGraph,
  TEXT_INPUT,
  TEXT_OUTPUT,
  type TextEncoderGraphOptions,
} from './text-encoder.js';
import {
  buildTrainingGraph,
  DEFAULT_TRAINING_ATTENTION_BUDGET,
  TRAINING_INPUTS,
  TRAINING_LOSS,
  type TrainingGraphOptions,
  trainingSamplesPerRun,
} from './training.js';
import { buildUnetGraph, UNET_INPUTS, UNET_OUTPUT, type UnetGraphOptions } from './unet.js';
import { attentionMapBudget, attentionMapBytesPerSample, unetCallSizes } from './unet-micro-batch.js';
import {
  buildVaeDecoderGraph,
  buildVaeEncoderGraph,
  VAE_DECODER_INPUT,
  VAE_DECODER_OUTPUT,
  VAE_ENCODER_INPUT,
  VAE_ENCODER_OUTPUTS,
  type VaeGraphOptions,
} from './vae.js';
import { type GraphDType, loadWeights, storedWeights, type WeightReader, type Weights } from './weights.js';

/** Bump when a builder here changes the graph it emits for the same options. */
export const SD1_GRAPHS_VERSION = 4;

/** Bump when what a weight folder holds changes (2: the UNet's 2-D weights also transposed). */
const WEIGHT_FOLDER_LAYOUT = 2;

/** An open checkpoint (`SD1Checkpoint` satisfies this). */
export interface Sd1ModelSource extends WeightReader {
  /** The checkpoint file or diffusers folder; its files' sizes and mtimes join the cache key. */
  readonly path?: string;
  readonly config: SD1Config;
  readonly fingerprint: string;
  keysOf(model: 'unet' | 'vae' | 'text'): string[];
}

export interface Sd1SessionsOptions {
  /** Weight/compute dtype of the inference graphs (default float32). Training graphs are float32 unless asked. */
  dtype?: GraphDType;
  /** ORT options for every session (float64 graphs get optimization 'basic' automatically). */
  session?: SessionOptions;
  /**
   * Cap on the graph cache folder's bytes (0 = unlimited; default: the folder's current setting,
   * initially `DEFAULT_GRAPH_CACHE_MAX_GB` GiB). The housekeeping logs through `session.log`.
   */
  cacheMaxBytes?: number;
  /**
   * Largest self-attention score map one run of the size-agnostic UNet may hold, in bytes; a larger
   * batch runs as several runs with the same result (unet-micro-batch.ts). 0 = no limit; undefined:
   * DEFAULT_ATTENTION_MAP_MB on a CPU session, no limit on CUDA.
   */
  attentionMapBytes?: number;
}

/** Float input data: float32 for float32/float16 graphs, float64 for float64 graphs. */
export type FloatData = Float32Array | Float64Array;

export interface GraphRunnerInfo {
  readonly kind: string;
  readonly modelPath: string;
  /** True when this call built and wrote the graph (a cache miss). */
  readonly built: boolean;
  /** Weight loading + graph building + serialization, when built. */
  readonly buildMs: number;
  readonly createMs: number;
  /** Bytes of the weights and constants the graph references (≈ what its ORT session holds). */
  readonly weightBytes?: number;
  readonly session: EngineSession;
}

export interface TextEncoderRunner extends GraphRunnerInfo {
  /** ids [B·L] (int32) → last_hidden_state [B·L·D]. */
  run(ids: Int32Array): Promise<FloatData>;
}

export interface UnetRunInputs {
  sample: FloatData;
  /** One timestep per batch item (integral values for ComfyUI-compatible sampling). */
  timestep: FloatData;
  context: FloatData;
  /**
   * Multiplicative masks by canonical K/V key, in the graph's weight dtype (Float32Array; Uint16Array
   * half bits for float16 graphs; Float64Array for float64). Keys left out run with all ones.
   */
  kvMasks?: ReadonlyMap<string, TensorData>;
}

export interface UnetRunner extends GraphRunnerInfo {
  /** Canonical keys that accept a mask (empty for kvMode 'none'). */
  readonly kvKeys: readonly string[];
  run(inputs: UnetRunInputs): Promise<FloatData>;
}

export interface VaeEncoderRunner extends GraphRunnerInfo {
  /** image [B·3·H·W] in −1..1 → posterior mean and clamped logvar [B·4·H/8·W/8]. */
  run(image: FloatData): Promise<{ mean: FloatData; logvar: FloatData }>;
}

export interface VaeDecoderRunner extends GraphRunnerInfo {
  /** latent [B·4·h·w], already divided by the scaling factor → image [B·3·8h·8w] in ≈ −1..1. */
  run(latent: FloatData): Promise<FloatData>;
}

export interface TrainingRunInputs {
  latents: FloatData;
  noise: FloatData;
  timestep: FloatData;
  context: FloatData;
  lossWeight: FloatData;
  sqrtAlphaBar: FloatData;
  sqrtOneMinusAlphaBar: FloatData;
  /** ξ by canonical K/V key (float32, or float64 for a float64 graph); keys left out are all ones. */
  xi?: ReadonlyMap<string, TensorData>;
}

export interface TrainingRunner extends GraphRunnerInfo {
  readonly kvKeys: readonly string[];
  /** Samples each session run takes (the graph's batch); a step of more runs several and adds them. */
  readonly samplesPerRun: number;
  run(inputs: TrainingRunInputs): Promise<{ loss: number; grads: Map<string, FloatData> }>;
}

export type TrainingRunnerOptions = Omit<TrainingGraphOptions, 'dtype'> & {
  dtype?: 'float32' | 'float64';
  /** Samples per session run, a divisor of `batch` (default: `trainingSamplesPerRun` under its default budget). */
  samplesPerRun?: number;
};

/** Graph builds and sessions for one checkpoint; see README.md in this folder. */
export class Sd1Sessions {
  readonly cache: GraphCache;
  /** Open sessions by graph key hash. */
  private readonly graphs = new Map<string, Promise<GraphRunnerInfo>>();
  /** Runners by graph key hash and call shapes (a size-agnostic graph serves many). */
  private readonly runners = new Map<string, Promise<GraphRunnerInfo>>();
  /** Cache entries this object's open sessions use, by graph key hash (released with the sessions). */
  private readonly holds = new Map<string, () => void>();
  private readonly dtype: GraphDType;
  private fileIdentity: string[] | undefined;

  constructor(
    readonly source: Sd1ModelSource,
    cacheDir: string,
    private readonly opts: Sd1SessionsOptions = {},
  ) {
    this.cache = new GraphCache(cacheDir);
    this.cache.housekeeper.configure({
      maxBytes: opts.cacheMaxBytes,
      log: opts.session?.log,
      checks: { sd1: currentSd1Entry },
    });
    // The first use of the folder in this process sweeps it in the background.
    this.cache.housekeeper.startOnce();
    this.dtype = opts.dtype ?? 'float32';
  }

  get config(): SD1Config {
    return this.source.config;
  }

  textEncoder(
    opts: Omit<TextEncoderGraphOptions, 'dtype'> & { dtype?: GraphDType },
  ): Promise<TextEncoderRunner> {
    const dtype = opts.dtype ?? this.dtype;
    const length = opts.length ?? this.config.text.maxPositions;
    const key = this.key(
      'text-encoder',
      dtype,
      { input_ids: [opts.batch, length] },
      { skipLastLayers: opts.skipLastLayers ?? 0 },
    );
    return this.runner(
      key,
      'text',
      (w) => buildTextEncoderGraph(this.config, w, { ...opts, dtype }).graph,
      (info) => ({
        ...info,
        run: async (ids: Int32Array) => {
          const out = await info.session.run({
            [TEXT_INPUT]: { dtype: 'int32', shape: [opts.batch, length], data: ids },
          });
          return out[TEXT_OUTPUT].data as FloatData;
        },
      }),
    );
  }

  unet(opts: Omit<UnetGraphOptions, 'dtype'> & { dtype?: GraphDType }): Promise<UnetRunner> {
    const u = this.config.unet;
    const dtype = opts.dtype ?? this.dtype;
    const kvMode: KvMode = opts.kvMode ?? 'none';
    const L = opts.contextLength ?? 77;
    const io = ioDtype(dtype);
    const sampleShape = [opts.batch, u.inChannels, opts.height, opts.width];
    // Attention chunking depends on the size: only an unchunked UNet is size-agnostic. That one also
    // takes a mask for every K/V weight whatever `kvMode` asks (unmasked ones are fed ones), so plain
    // and masked sampling share one session and one copy of the weights.
    const sizeAgnostic = !opts.attentionMapBudget;
    const graphMode: KvMode = sizeAgnostic ? 'all' : kvMode;
    const key = this.key(
      'unet',
      dtype,
      sizeAgnostic ? {} : { sample: sampleShape, context: [opts.batch, L, u.contextDim] },
      sizeAgnostic
        ? { kvMode: graphMode, sizeAgnostic }
        : { kvMode, attentionMapBudget: opts.attentionMapBudget },
    );
    const kv = kvMode === 'none' ? [] : kvWeights(u, kvMode);
    const fed = graphMode === 'none' ? [] : kvWeights(u, graphMode);
    return this.runner(
      key,
      'unet',
      (w) =>
        buildUnetGraph(this.config, w, { ...opts, dtype, kvMode: graphMode, sizeAgnostic }).builder.graph,
      (info) => {
        const ones = onesFor(
          dtype,
          fed.map((k) => k.shape[0] * k.shape[1]),
        );
        // A chunked graph is built at its batch; the size-agnostic one takes any, so it runs in parts.
        const sizes = sizeAgnostic
          ? unetCallSizes(
              opts.batch,
              attentionMapBytesPerSample(u, opts.height, opts.width, BYTES_PER_ELEMENT[dtype]),
              attentionMapBudget(this.opts.attentionMapBytes, info.session.provider),
            )
          : [opts.batch];
        const sampleSize = u.inChannels * opts.height * opts.width;
        const contextSize = L * u.contextDim;
        const runPart = async (inp: UnetRunInputs, first: number, n: number) => {
          const at = (data: FloatData, size: number) => samples(data, size, first, n);
          const feeds: Record<string, TensorValue> = {
            [UNET_INPUTS.sample]: {
              dtype: io,
              shape: [n, ...sampleShape.slice(1)],
              data: at(inp.sample, sampleSize),
            },
            [UNET_INPUTS.timestep]: { dtype: io, shape: [n], data: at(inp.timestep, 1) },
            [UNET_INPUTS.context]: {
              dtype: io,
              shape: [n, L, u.contextDim],
              data: at(inp.context, contextSize),
            },
          };
          feedKvInputs(feeds, fed, dtype, inp.kvMasks, ones);
          return (await info.session.run(feeds))[UNET_OUTPUT].data as FloatData;
        };
        return {
          ...info,
          kvKeys: kv.map((k) => k.key),
          run: async (inp: UnetRunInputs) => {
            checkKnownKeys(inp.kvMasks, kv, 'kvMasks');
            if (sizes.length === 1) return runPart(inp, 0, opts.batch);
            const out =
              io === 'float64' ? new Float64Array(inp.sample.length) : new Float32Array(inp.sample.length);
            let first = 0;
            for (const n of sizes) {
              out.set(await runPart(inp, first, n), first * sampleSize);
              first += n;
            }
            return out;
          },
        };
      },
      `${sampleShape}|${L}|${kvMode}`,
    );
  }

  vaeEncoder(opts: Omit<VaeGraphOptions, 'dtype'> & { dtype?: GraphDType }): Promise<VaeEncoderRunner> {
    const dtype = opts.dtype ?? this.dtype;
    const io = ioDtype(dtype);
    const shape = [opts.batch, this.config.vae.inChannels, opts.height, opts.width];
    const key = this.key('vae-encoder', dtype, {}, { sizeAgnostic: true });
    return this.runner(
      key,
      'vae',
      (w) => buildVaeEncoderGraph(this.config, w, { ...opts, dtype, sizeAgnostic: true }).graph,
      (info) => ({
        ...info,
        run: async (image: FloatData) => {
          const out = await info.session.run({ [VAE_ENCODER_INPUT]: { dtype: io, shape, data: image } });
          return {
            mean: out[VAE_ENCODER_OUTPUTS.mean].data as FloatData,
            logvar: out[VAE_ENCODER_OUTPUTS.logvar].data as FloatData,
          };
        },
      }),
      `${shape}`,
    );
  }

  vaeDecoder(opts: Omit<VaeGraphOptions, 'dtype'> & { dtype?: GraphDType }): Promise<VaeDecoderRunner> {
    const dtype = opts.dtype ?? this.dtype;
    const io = ioDtype(dtype);
    const shape = [opts.batch, this.config.vae.latentChannels, opts.height, opts.width];
    const key = this.key('vae-decoder', dtype, {}, { sizeAgnostic: true });
    return this.runner(
      key,
      'vae',
      (w) => buildVaeDecoderGraph(this.config, w, { ...opts, dtype, sizeAgnostic: true }).graph,
      (info) => ({
        ...info,
        run: async (latent: FloatData) => {
          const out = await info.session.run({ [VAE_DECODER_INPUT]: { dtype: io, shape, data: latent } });
          return out[VAE_DECODER_OUTPUT].data as FloatData;
        },
      }),
      `${shape}`,
    );
  }

  /**
   * The Cones training graph (loss + ∂loss/∂ξ); float32 by default whatever the inference dtype. A batch
   * whose activations would exceed the budget runs as `samplesPerRun`-sample runs of one graph built at
   * that batch, their losses and gradients added (see `trainingSamplesPerRun`).
   */
  training(opts: TrainingRunnerOptions): Promise<TrainingRunner> {
    const u = this.config.unet;
    const dtype = opts.dtype ?? 'float32';
    const L = opts.contextLength ?? 77;
    const B = opts.batch;
    const per = opts.samplesPerRun ?? trainingSamplesPerRun(u.modelChannels, B, opts.height, opts.width);
    if (!Number.isInteger(per) || per < 1 || B % per !== 0)
      return Promise.reject(new Error(`samplesPerRun must divide the batch (${B}), got ${per}`));
    const latentShape = [per, u.inChannels, opts.height, opts.width];
    const latentSize = u.inChannels * opts.height * opts.width;
    const contextSize = L * u.contextDim;
    const recompute = opts.recomputeAttention ?? 'self';
    const key = this.key(
      'unet-train-kv',
      dtype,
      { latents: latentShape, context: [per, L, u.contextDim] },
      {
        scope: opts.scope,
        recompute,
        attentionMapBudget: opts.attentionMapBudget ?? DEFAULT_TRAINING_ATTENTION_BUDGET,
      },
    );
    const kv = kvWeights(u, opts.scope);
    const build = (w: Parameters<typeof buildTrainingGraph>[1]) => {
      const g = buildTrainingGraph(this.config, w, { ...opts, batch: per, dtype }).builder.graph;
      return dtype === 'float64' ? lowerForFloat64(g) : g;
    };
    const runOnce = async (
      info: GraphRunnerInfo,
      inp: TrainingRunInputs,
      ones: TensorData,
      first: number,
    ) => {
      const at = (data: FloatData, size: number) => samples(data, size, first, per);
      const vec = (data: FloatData) => ({ dtype, shape: [per], data: at(data, 1) });
      const feeds: Record<string, TensorValue> = {
        [TRAINING_INPUTS.latents]: { dtype, shape: latentShape, data: at(inp.latents, latentSize) },
        [TRAINING_INPUTS.noise]: { dtype, shape: latentShape, data: at(inp.noise, latentSize) },
        [TRAINING_INPUTS.timestep]: vec(inp.timestep),
        [TRAINING_INPUTS.context]: {
          dtype,
          shape: [per, L, u.contextDim],
          data: at(inp.context, contextSize),
        },
        [TRAINING_INPUTS.lossWeight]: vec(inp.lossWeight),
        [TRAINING_INPUTS.sqrtAlphaBar]: vec(inp.sqrtAlphaBar),
        [TRAINING_INPUTS.sqrtOneMinusAlphaBar]: vec(inp.sqrtOneMinusAlphaBar),
      };
      feedKvInputs(feeds, kv, dtype, inp.xi, ones);
      return info.session.run(feeds);
    };
    return this.runner(
      key,
      'unet',
      build,
      (info) => {
        const ones = onesFor(
          dtype,
          kv.map((k) => k.shape[0] * k.shape[1]),
        );
        return {
          ...info,
          kvKeys: kv.map((k) => k.key),
          samplesPerRun: per,
          run: async (inp: TrainingRunInputs) => {
            checkKnownKeys(inp.xi, kv, 'xi');
            let loss = 0;
            const grads = new Map<string, FloatData>();
            for (let first = 0; first < B; first += per) {
              const out = await runOnce(info, inp, ones, first);
              loss += Number(out[TRAINING_LOSS].data[0]);
              for (const k of kv) {
                const g = out[kvGradName(k.key)].data as FloatData;
                const sum = grads.get(k.key);
                if (!sum) grads.set(k.key, g);
                else for (let i = 0; i < sum.length; i++) sum[i] += g[i];
              }
            }
            return { loss, grads };
          },
        };
      },
      `batch ${B}`,
    );
  }

  /** Releases every session opened so far. */
  async release(): Promise<void> {
    const all = [...this.graphs.values()];
    this.graphs.clear();
    this.runners.clear();
    for (const release of this.holds.values()) release();
    this.holds.clear();
    for (const r of all) {
      try {
        await (await r).session.release();
      } catch {
        // a runner that failed to open has nothing to release
      }
    }
  }

  private key(
    kind: string,
    dtype: GraphDType,
    shapes: Record<string, readonly number[]>,
    options: Record<string, unknown> = {},
  ): GraphKey {
    this.fileIdentity ??= fileIdentity(this.source.path);
    return {
      fingerprint: this.source.fingerprint,
      kind,
      dtype,
      shapes,
      options: { ...options, sd1Graphs: SD1_GRAPHS_VERSION, files: this.fileIdentity },
    };
  }

  /**
   * float32/float16: the part's weight folder in the graph cache (written on first use, then shared on
   * disk by every graph of the part), so graph building never holds the weights. float64 (checks):
   * read into memory.
   */
  private async weightsFor(part: 'unet' | 'vae' | 'text', dtype: GraphDType): Promise<Weights> {
    const keys = this.source.keysOf(part);
    if (dtype === 'float64') return loadWeights(this.source, keys, dtype);
    const dir = this.weightFolder(part, dtype);
    this.cache.housekeeper.touch(dir, true);
    // The UNet's linear weights are also stored transposed: the training graphs map their weights
    // (no copies), and a Transpose of a constant would make ORT fold it into a private copy.
    const weights = await storedWeights(this.source, keys, dtype, dir, { transpose2d: part === 'unet' });
    await writeEntryMeta(dir, {
      layout: WEIGHT_FOLDER_LAYOUT,
      part,
      dtype,
      fingerprint: this.source.fingerprint,
    });
    return weights;
  }

  private weightFolder(part: 'unet' | 'vae' | 'text', dtype: 'float32' | 'float16'): string {
    this.fileIdentity ??= fileIdentity(this.source.path);
    const id = graphKeyHash({
      fingerprint: this.source.fingerprint,
      kind: `weights-${part}`,
      dtype,
      shapes: {},
      options: { files: this.fileIdentity, layout: WEIGHT_FOLDER_LAYOUT },
    });
    return join(this.cache.dir, `weights-${part}-${dtype}-${id}`);
  }

  private runner<R extends GraphRunnerInfo>(
    key: GraphKey,
    part: 'unet' | 'vae' | 'text',
    build: (weights: Weights) => Graph,
    wrap: (info: GraphRunnerInfo) => R,
    callShapes = '',
  ): Promise<R> {
    const id = graphKeyHash(key);
    const runnerId = `${id}|${callShapes}`;
    this.cache.touch(key); // a use, for other processes' housekeeping (at most once a minute)
    let pending = this.runners.get(runnerId);
    if (!pending) {
      let graph = this.graphs.get(id);
      if (!graph) {
        const hold = this.cache.housekeeper.acquire(this.cache.entryDir(key));
        this.holds.get(id)?.();
        this.holds.set(id, hold);
        graph = this.openRebuilding(key, part, build);
        graph.catch(() => {
          this.graphs.delete(id);
          if (this.holds.get(id) === hold) this.holds.delete(id);
          hold();
        });
        this.graphs.set(id, graph);
      }
      pending = graph.then(wrap);
      pending.catch(() => this.runners.delete(runnerId));
      this.runners.set(runnerId, pending);
    }
    return pending as Promise<R>;
  }

  /**
   * `open`, once more when the entry or its weight folder vanished meanwhile (evicted by another
   * process sharing the cache folder between our look and ORT reading the files): rebuilt, not failed.
   */
  private async openRebuilding(
    key: GraphKey,
    part: 'unet' | 'vae' | 'text',
    build: (weights: Weights) => Graph,
  ): Promise<GraphRunnerInfo> {
    const seen = { entry: false };
    try {
      return await this.open(key, part, build, seen);
    } catch (error) {
      const vanished =
        (error as NodeJS.ErrnoException).code === 'ENOENT' || (seen.entry && !this.cache.has(key));
      if (!vanished) throw error;
      return this.open(key, part, build, seen);
    }
  }

  private async open(
    key: GraphKey,
    part: 'unet' | 'vae' | 'text',
    build: (weights: Weights) => Graph,
    seen: { entry: boolean },
  ): Promise<GraphRunnerInfo> {
    let buildMs = 0;
    let built = false;
    let modelPath = this.cache.modelPath(key);
    if (this.cache.has(key)) this.cache.housekeeper.touch(this.cache.entryDir(key), true);
    else {
      const t0 = performance.now();
      const dtype = key.dtype as GraphDType;
      // The weight folder stays in use (never evicted here) until the graph has linked its file.
      const hold =
        dtype === 'float64' ? () => {} : this.cache.housekeeper.acquire(this.weightFolder(part, dtype));
      try {
        const weights = await this.weightsFor(part, dtype);
        ({ modelPath, built } = this.cache.getOrBuild(key, () => build(weights)));
      } finally {
        hold();
      }
      buildMs = performance.now() - t0;
    }
    seen.entry = true;
    // Inference sessions keep ORT's optimized copy in the entry (src/onnx/optimized-copy.ts); training
    // sessions (no pre-packing, weights mapped from the weight folder) would only gain a second copy of
    // the weights on disk.
    const prepacking = this.opts.session?.prepack !== false;
    const session = await createSession(modelPath, {
      ...this.opts.session,
      ...(key.dtype === 'float64'
        ? { optimization: 'basic' as const }
        : prepacking
          ? { optimizedCopyFolder: this.cache.entryDir(key) }
          : {}),
    });
    return {
      kind: key.kind,
      modelPath,
      built,
      buildMs,
      createMs: session.createMs,
      weightBytes: this.cache.modelBytes(key),
      session,
    };
  }
}

/**
 * Cache entries of older builders are stale: graphs of another SD1_GRAPHS_VERSION, weight folders of
 * another WEIGHT_FOLDER_LAYOUT (folders written before the layout was recorded are kept).
 */
function currentSd1Entry(e: CacheEntry): boolean {
  if (e.type === 'weights') return e.meta?.layout === undefined || e.meta.layout === WEIGHT_FOLDER_LAYOUT;
  const options = e.meta?.options as Record<string, unknown> | undefined;
  return options?.sd1Graphs === undefined || options.sd1Graphs === SD1_GRAPHS_VERSION;
}

/** Opens the graph set for one checkpoint; graphs are built (or read from `cacheDir`) on first use. */
export function loadSd1Sessions(
  source: Sd1ModelSource,
  cacheDir: string,
  opts: Sd1SessionsOptions = {},
): Sd1Sessions {
  return new Sd1Sessions(source, cacheDir, opts);
}

/**
 * Size and mtime of the checkpoint's files. The fingerprint samples values only, so a fine-tune that
 * changed no sampled element would otherwise reuse graphs holding the old weights.
 */
function fileIdentity(path: string | undefined): string[] {
  if (!path || !existsSync(path)) return [];
  const describe = (file: string, label: string) => {
    const st = statSync(file);
    return `${label}:${st.size}:${Math.round(st.mtimeMs)}`;
  };
  if (!statSync(path).isDirectory()) return [describe(path, '.')];
  const out: string[] = [];
  for (const sub of ['unet', 'vae', 'text_encoder']) {
    const dir = join(path, sub);
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir).sort())
      if (name.endsWith('.safetensors')) out.push(describe(join(dir, name), `${sub}/${name}`));
  }
  return out;
}

/** One shared all-ones buffer, viewed per K/V input (ORT reads views at their offset). */
function onesFor(dtype: GraphDType, sizes: number[]): TensorData {
  const n = Math.max(0, ...sizes);
  if (dtype === 'float16') return new Uint16Array(n).fill(0x3c00);
  if (dtype === 'float64') return new Float64Array(n).fill(1);
  return new Float32Array(n).fill(1);
}

function onesView(ones: TensorData, shape: readonly number[]): TensorData {
  return (ones as Float32Array).subarray(0, shape[0] * shape[1]) as TensorData;
}

/** Samples first … first + n − 1 of a batch tensor with `size` values per sample (a view, no copy). */
function samples(data: FloatData, size: number, first: number, n: number): FloatData {
  return data.subarray(first * size, (first + n) * size);
}

/** One `xi:<key>` input per K/V weight: the given tensor, or a view of the shared all-ones buffer. */
function feedKvInputs(
  feeds: Record<string, TensorValue>,
  kv: readonly { key: string; shape: readonly number[] }[],
  dtype: GraphDType,
  given: ReadonlyMap<string, TensorData> | undefined,
  ones: TensorData,
): void {
  for (const k of kv)
    feeds[kvInputName(k.key)] = { dtype, shape: k.shape, data: given?.get(k.key) ?? onesView(ones, k.shape) };
}

function checkKnownKeys(
  given: ReadonlyMap<string, TensorData> | undefined,
  kv: { key: string }[],
  what: string,
): void {
  if (!given) return;
  const known = new Set(kv.map((k) => k.key));
  for (const key of given.keys()) {
    if (!known.has(key))
      throw new Error(`${what}: '${key}' is not a K/V weight of this graph (its scope has ${known.size})`);
  }
}
