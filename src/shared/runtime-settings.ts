/**
 * Worker-wide settings of the runtime workers (ONNX Runtime provider, weight dtype, memory budget,
 * threads, …): one object, built where the service starts (`serve` / `run` flags, with the `CONES_*`
 * environment variables as fallbacks) and handed to every worker, which reads nothing else.
 */
import { tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';

export interface RuntimeSettings {
  executionProvider: 'auto' | 'cpu' | 'cuda';
  /** Weight dtype of the SD inference graphs (their inputs and outputs are float32 either way). */
  dtype: 'float32' | 'float16';
  /** Bytes the worker's model cache may fill before it releases the least recently used model. */
  modelMemoryBytes: number;
  /** ONNX Runtime intra-op threads (undefined: ORT's default). */
  threads?: number;
  /**
   * UNet/VAE/training graphs kept open per model before all its sessions are recycled. The UNet and VAE
   * graphs are size-agnostic (one each for every size); attention-chunked UNets and training graphs are per size.
   */
  maxShapes: number;
  /**
   * Largest self-attention score map one UNet call may hold, in bytes (0 = no limit): a batch whose
   * maps would be larger runs as several calls with the same result (src/sd/graphs/unet-micro-batch.ts).
   * Undefined: DEFAULT_ATTENTION_MAP_MB on the CPU, no limit on CUDA.
   */
  attentionMapBytes?: number;
  /** Folder for built graphs when a task names none (the service passes `<data dir>/cache/onnx`). */
  graphCacheDir: string;
  /**
   * Bytes the graph cache folder may fill (built graphs and weight folders, hard-linked files counted
   * once) before its least recently used entries are removed; 0 = unlimited. Undefined: the default,
   * `DEFAULT_GRAPH_CACHE_MAX_GB` GiB (src/onnx/cache-housekeeping.ts).
   */
  graphCacheMaxBytes?: number;
}

/**
 * Default budget of one UNet call's largest attention map on the CPU, in MiB: one 512-px SD1 sample in
 * float32. Measured by `npm run bench:attention` (512 px, 4 images with guidance): one sample a call
 * took 0.38× the peak RSS and 0.90× the time of the whole batch at once. CUDA has no default limit.
 */
export const DEFAULT_ATTENTION_MAP_MB = 512;

/** Default cap of the graph cache folder, in GiB (a full-width SD1 weight folder is ~3.4 GB). */
export const DEFAULT_GRAPH_CACHE_MAX_GB = 20;

export type RuntimeSettingName =
  | 'provider'
  | 'dtype'
  | 'model-memory-mb'
  | 'threads'
  | 'max-shapes'
  | 'attention-map-mb'
  | 'graph-cache-dir'
  | 'graph-cache-max-gb';

interface SettingOption {
  env: string;
  /** Placeholder of the flag's value in `--help`. */
  arg: string;
  /** `--help` text, defaults included: the one place they are documented. */
  help: string;
}

/** The settings as command-line flags (`--provider` …) and environment variables, with their defaults. */
export const RUNTIME_SETTING_OPTIONS: Record<RuntimeSettingName, SettingOption> = {
  provider: {
    env: 'CONES_EXECUTION_PROVIDER',
    arg: 'NAME',
    help: 'ONNX Runtime execution provider: auto (CUDA when usable, else CPU), cpu or cuda; default auto',
  },
  dtype: {
    env: 'CONES_SD_DTYPE',
    arg: 'TYPE',
    help: "SD weight dtype: float32 (default) or float16 (half the memory; ORT's CPU float16 kernels are slow, use it with CUDA)",
  },
  'model-memory-mb': {
    env: 'CONES_MODEL_MEMORY_MB',
    arg: 'N',
    help: 'memory the loaded models may fill before the least recently used one is released; default 60 % of RAM',
  },
  threads: {
    env: 'CONES_ORT_THREADS',
    arg: 'N',
    help: "ONNX Runtime intra-op threads; default ORT's choice",
  },
  'max-shapes': {
    env: 'CONES_SD_MAX_SHAPES',
    arg: 'N',
    help: 'graphs (UNet, VAE, training; chunked-attention UNets and training graphs per size) kept open per model before its sessions are recycled; default 4',
  },
  'attention-map-mb': {
    env: 'CONES_ATTENTION_MAP_MB',
    arg: 'N',
    help: `largest self-attention score map (MiB) one UNet call may hold; bigger batches run as several calls with the same result; 0 = no limit; default ${DEFAULT_ATTENTION_MAP_MB} on the CPU, no limit on CUDA`,
  },
  'graph-cache-dir': {
    env: 'CONES_GRAPH_CACHE_DIR',
    arg: 'DIR',
    help: 'folder for built ONNX graphs when no data folder names one; default <tmp>/cones-nodes-graphs',
  },
  'graph-cache-max-gb': {
    env: 'CONES_GRAPH_CACHE_MAX_GB',
    arg: 'N',
    help: `GiB the graph cache folder may fill before its least recently used graphs and weight folders are removed (never ones in use or used in the last 10 minutes); 0 = unlimited; default ${DEFAULT_GRAPH_CACHE_MAX_GB}`,
  },
};

export const RUNTIME_SETTING_NAMES = Object.keys(RUNTIME_SETTING_OPTIONS) as RuntimeSettingName[];

/** A setting's flag or environment value that cannot be used; the message names where it came from. */
export class RuntimeSettingsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RuntimeSettingsError';
  }
}

/**
 * The settings from `flags` (values of `--provider` …, by flag name), else from the `CONES_*`
 * variables in `env`, else the defaults. Throws `RuntimeSettingsError` naming the flag or variable of
 * a value it cannot use.
 */
export function resolveRuntimeSettings(
  flags: Partial<Record<RuntimeSettingName, string | undefined>> = {},
  env: NodeJS.ProcessEnv = process.env,
): RuntimeSettings {
  const raw = (name: RuntimeSettingName): { value: string; source: string } | undefined => {
    const flag = flags[name];
    if (flag !== undefined) return { value: flag, source: `--${name}` };
    const variable = RUNTIME_SETTING_OPTIONS[name].env;
    const fromEnv = env[variable];
    return fromEnv === undefined || fromEnv === '' ? undefined : { value: fromEnv, source: variable };
  };
  const oneOf = <T extends string>(name: RuntimeSettingName, allowed: readonly T[], fallback: T): T => {
    const r = raw(name);
    if (!r) return fallback;
    if ((allowed as readonly string[]).includes(r.value)) return r.value as T;
    throw new RuntimeSettingsError(`${r.source} must be ${allowed.join(', ')}; got '${r.value}'`);
  };
  const positive = (name: RuntimeSettingName, integer: boolean): number | undefined => {
    const r = raw(name);
    if (!r) return undefined;
    const n = Number(r.value.trim());
    if (r.value.trim() === '' || !(n > 0 && Number.isFinite(n)) || (integer && !Number.isInteger(n))) {
      throw new RuntimeSettingsError(
        `${r.source} must be a positive ${integer ? 'integer' : 'number'}; got '${r.value}'`,
      );
    }
    return n;
  };
  const nonNegative = (name: RuntimeSettingName): number | undefined => {
    const r = raw(name);
    if (!r) return undefined;
    const n = Number(r.value.trim());
    if (r.value.trim() === '' || !(n >= 0 && Number.isFinite(n)))
      throw new RuntimeSettingsError(`${r.source} must be a number ≥ 0 (0 = unlimited); got '${r.value}'`);
    return n;
  };
  const memoryMb = positive('model-memory-mb', false);
  const cacheGb = nonNegative('graph-cache-max-gb');
  const attentionMb = nonNegative('attention-map-mb');
  return {
    executionProvider: oneOf('provider', ['auto', 'cpu', 'cuda'], 'auto'),
    dtype: oneOf('dtype', ['float32', 'float16'], 'float32'),
    modelMemoryBytes: memoryMb === undefined ? Math.floor(totalmem() * 0.6) : Math.floor(memoryMb * 2 ** 20),
    threads: positive('threads', true),
    maxShapes: positive('max-shapes', true) ?? 4,
    attentionMapBytes: attentionMb === undefined ? undefined : Math.floor(attentionMb * 2 ** 20),
    graphCacheDir: raw('graph-cache-dir')?.value ?? join(tmpdir(), 'cones-nodes-graphs'),
    graphCacheMaxBytes: Math.floor((cacheGb ?? DEFAULT_GRAPH_CACHE_MAX_GB) * 2 ** 30),
  };
}
