/**
 * ORT sessions: execution provider choice (`auto` = CUDA, else CPU, with the reason logged),
 * threads, memory-pattern/arena knobs, optional warm-up, float32/float16/float64 feeds, release.
 * Nothing here assumes the main thread: sessions may live in worker_threads.
 */
import * as ort from 'onnxruntime-node';
import { allocate, type DType, type TensorData } from './dtype.js';
import { numel, type Shape } from './ir.js';
import {
  dropOptimizedCopy,
  existingOptimizedCopy,
  optimizedCopyDir,
  savingOptimizedCopy,
} from './optimized-copy.js';
import { diagnoseCuda } from './providers.js';

export type ExecutionProvider = 'auto' | 'cuda' | 'cpu';

export interface SessionOptions {
  executionProvider?: ExecutionProvider;
  /** intra-op threads (default: ORT's choice = physical cores). */
  threads?: number;
  /** false trades speed for memory (the planner stops pre-allocating one big pattern). Default true. */
  memPattern?: boolean;
  /** CPU memory arena (default true). */
  cpuArena?: boolean;
  /** 'basic' for float64 reference graphs (ORT's extended fusions have float32-only kernels). Default 'all'. */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
  deviceId?: number;
  /**
   * Let idle intra-op threads spin-wait for work (ORT's default). Off by default here: a spinning
   * pool steals cores from everything else — other sessions in the same worker, the server thread.
   * Measured on 2 cores: one session 60 ms off vs 86–98 ms on; with a second, idle session in the
   * process 55 ms off vs 122 ms on.
   */
  spinning?: boolean;
  /**
   * Flush denormal floats to zero (ORT's session.set_denormal_as_zero). Training on flat-colour
   * images drives activations and gradients denormal, and x86 handles those in microcode: see
   * src/train/README.md for the measured cost. Off by default (inference matches PyTorch exactly).
   */
  denormalAsZero?: boolean;
  /**
   * Let kernels pre-pack constant weights into private buffers (ORT's default, true). false
   * (session.disable_prepacking) keeps weights where they were loaded: with optimization 'extended'
   * or lower, external-data weights then stay memory-mapped from their file, shared by every session
   * of the process that maps the same file (see src/sd/graphs/README.md for what that costs).
   */
  prepack?: boolean;
  /**
   * Folder where ORT's optimized copy of this model is kept (optimized-copy.ts; CPU sessions of a
   * model opened by path). The first session saves it; later ones open it with optimization off.
   * Unset: every session optimizes from scratch.
   */
  optimizedCopyFolder?: string;
  /** Run the model once on zeros after loading (first runs grow the arena and record the memory pattern). */
  warmup?: boolean;
  /** Where to say which provider was chosen and why (default: console.info). */
  log?: (message: string) => void;
}

export interface TensorValue {
  dtype: DType;
  shape: Shape;
  data: TensorData;
}

export interface EngineSession {
  readonly provider: 'cuda' | 'cpu';
  /** Why `auto` ended on CPU (the CUDA load error), if it did. */
  readonly fallbackReason?: string;
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly createMs: number;
  run(feeds: Record<string, TensorValue>, outputs?: readonly string[]): Promise<Record<string, TensorValue>>;
  release(): Promise<void>;
}

const ORT_TYPE: Partial<Record<DType, ort.Tensor.Type>> = {
  float32: 'float32',
  float16: 'float16',
  float64: 'float64',
  int64: 'int64',
  int32: 'int32',
  bool: 'bool',
  uint8: 'uint8',
  int8: 'int8',
};

function dtypeOfOrt(type: string): DType {
  const found = Object.entries(ORT_TYPE).find(([, t]) => t === type);
  if (!found) throw new Error(`unsupported ORT tensor type ${type}`);
  return found[0] as DType;
}

export function toOrtTensor(v: TensorValue): ort.Tensor {
  const type = ORT_TYPE[v.dtype];
  if (!type) throw new Error(`unsupported dtype ${v.dtype}`);
  if (v.data.length !== numel(v.shape))
    throw new Error(`tensor data has ${v.data.length} elements, shape [${v.shape}] needs ${numel(v.shape)}`);
  return new ort.Tensor(type, v.data as any, v.shape as number[]);
}

export function fromOrtTensor(t: ort.Tensor): TensorValue {
  return { dtype: dtypeOfOrt(t.type), shape: [...t.dims], data: t.data as TensorData };
}

function ortOptions(opts: SessionOptions, provider: 'cuda' | 'cpu'): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: provider === 'cuda' ? [{ name: 'cuda', deviceId: opts.deviceId ?? 0 }] : ['cpu'],
    graphOptimizationLevel: opts.optimization ?? 'all',
    enableMemPattern: opts.memPattern ?? true,
    enableCpuMemArena: opts.cpuArena ?? true,
    ...(opts.threads ? { intraOpNumThreads: opts.threads, interOpNumThreads: 1 } : {}),
    logSeverityLevel: 3,
    // Session config entries (flattened with '.' by the binding): session.intra_op.allow_spinning,
    // session.set_denormal_as_zero.
    extra: {
      session: {
        'intra_op.allow_spinning': opts.spinning ? '1' : '0',
        ...(opts.denormalAsZero ? { set_denormal_as_zero: '1' } : {}),
        ...(opts.prepack === false ? { disable_prepacking: '1' } : {}),
      },
    },
  };
}

async function load(model: string | Uint8Array, o: ort.InferenceSession.SessionOptions) {
  return typeof model === 'string'
    ? ort.InferenceSession.create(model, o)
    : ort.InferenceSession.create(model, o);
}

/** A CPU session, through the model's optimized copy when `opts.optimizedCopyFolder` asks for one. */
async function loadCpu(
  model: string | Uint8Array,
  opts: SessionOptions,
  log: (message: string) => void,
): Promise<ort.InferenceSession> {
  const optimization = opts.optimization ?? 'all';
  if (typeof model !== 'string' || !opts.optimizedCopyFolder || optimization === 'disabled')
    return load(model, ortOptions(opts, 'cpu'));
  const dir = optimizedCopyDir(opts.optimizedCopyFolder, {
    ortVersion: ort.env.versions.node ?? ort.env.versions.common,
    optimization,
    prepack: opts.prepack !== false,
  });
  const copy = existingOptimizedCopy(dir);
  if (copy) {
    try {
      return await load(copy, ortOptions({ ...opts, optimization: 'disabled' }, 'cpu'));
    } catch (e) {
      log(`onnx: optimized copy ${copy} did not open (${briefError(e)}); re-making it`);
      dropOptimizedCopy(dir);
    }
  }
  const o = ortOptions(opts, 'cpu');
  const extra = o.extra as { session: Record<string, string> };
  let saving: ReturnType<typeof savingOptimizedCopy> | undefined;
  try {
    saving = savingOptimizedCopy(dir);
    const session = await load(model, {
      ...o,
      optimizedModelFilePath: saving.optimizedModelFilePath,
      extra: { ...extra, session: { ...extra.session, ...saving.sessionEntries } },
    });
    saving.commit();
    return session;
  } catch (e) {
    saving?.discard();
    // The copy only saves later starts time: a full disk or a read-only cache must not stop this one.
    log(`onnx: ORT's optimized copy could not be saved in ${dir} (${briefError(e)}); opening without it`);
    return load(model, o);
  }
}

/** First line of an ORT error, which names the library that failed to load. */
export function briefError(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split('\n')[0].trim();
}

/** Opens a model (by path — preferred, see serialize.ts — or from bytes for small inline models). */
export async function createSession(
  model: string | Uint8Array,
  opts: SessionOptions = {},
): Promise<EngineSession> {
  const ep = opts.executionProvider ?? 'auto';
  const log = opts.log ?? ((m: string) => console.info(m));
  const t0 = performance.now();
  let session: ort.InferenceSession;
  let provider: 'cuda' | 'cpu';
  let fallbackReason: string | undefined;
  if (ep === 'cpu') {
    session = await loadCpu(model, opts, log);
    provider = 'cpu';
  } else if (ep === 'auto' && !diagnoseCuda().installed) {
    // Not even installed: skip the attempt (ORT would print a native error) and say why.
    fallbackReason = diagnoseCuda().summary;
    log(`onnx: CUDA unavailable (${fallbackReason}); using CPU`);
    session = await loadCpu(model, opts, log);
    provider = 'cpu';
  } else {
    try {
      session = await load(model, ortOptions(opts, 'cuda'));
      provider = 'cuda';
      if (ep === 'auto') log('onnx: execution provider CUDA');
    } catch (e) {
      if (ep === 'cuda')
        throw new Error(`CUDA execution provider unavailable: ${briefError(e)} (run 'cones-nodes doctor')`);
      fallbackReason = briefError(e);
      log(`onnx: CUDA unavailable (${fallbackReason}); using CPU`);
      session = await loadCpu(model, opts, log);
      provider = 'cpu';
    }
  }
  const createMs = performance.now() - t0;
  const inputNames = [...session.inputNames];
  const outputNames = [...session.outputNames];
  let released = false;

  const engine: EngineSession = {
    provider,
    fallbackReason,
    inputNames,
    outputNames,
    createMs,
    async run(feeds, outputs) {
      if (released) throw new Error('session was released');
      const missing = inputNames.filter((n) => !(n in feeds));
      if (missing.length) throw new Error(`missing inputs: ${missing.join(', ')}`);
      const ortFeeds: Record<string, ort.Tensor> = {};
      for (const n of inputNames) ortFeeds[n] = toOrtTensor(feeds[n]);
      const result = outputs ? await session.run(ortFeeds, outputs as string[]) : await session.run(ortFeeds);
      const out: Record<string, TensorValue> = {};
      for (const [k, t] of Object.entries(result)) out[k] = fromOrtTensor(t);
      return out;
    },
    async release() {
      if (released) return;
      released = true;
      await session.release();
    },
  };
  if (opts.warmup) await engine.run(zeroFeeds(session));
  return engine;
}

/** Zero-filled feeds for every model input, from the model's own input metadata. */
function zeroFeeds(session: ort.InferenceSession): Record<string, TensorValue> {
  const feeds: Record<string, TensorValue> = {};
  for (const meta of session.inputMetadata) {
    if (!meta.isTensor) throw new Error(`input ${meta.name} is not a tensor`);
    const shape = meta.shape.map((d) => (typeof d === 'number' ? d : 1));
    const dtype = dtypeOfOrt(meta.type);
    feeds[meta.name] = { dtype, shape, data: allocate(dtype, numel(shape)) };
  }
  return feeds;
}
