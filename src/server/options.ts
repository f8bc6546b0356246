import type { PromptService } from '../engine/service-types.js';
import type { DemoModel } from '../sd/demo-checkpoint.js';
import type { DataDirs } from '../shared/types.js';
import type { FrontEndChoice } from './front-end-locate.js';
import type { ListenAddress } from './listen-address.js';

/** Size limits on everything a client can send. */
export interface ServerLimits {
  /** JSON bodies and /userdata files (bytes). */
  maxBodyBytes: number;
  /** One uploaded file through /upload/* or a native `upload` (bytes); advertised as `max_upload_size`. */
  maxUploadBytes: number;
  /** One inbound frame on the ComfyUI /ws socket (clients only send small JSON there). */
  maxComfyFrameBytes: number;
  /** One inbound frame on the native socket (carries uploads, so it is the upload limit plus headroom). */
  maxNativeFrameBytes: number;
}

export interface StartServerOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 8189; 0 picks a free port. */
  port?: number;
  /** Data folder (input/, output/, temp/, user/, models/). Default ./data. */
  dataDir?: string;
  /** An existing ComfyUI install whose models/ folders are also listed. */
  comfyuiDir?: string;
  /**
   * A built ComfyUI front end (its dist/ folder) served at `/`. Default: the one the `comfyuiDir`
   * install has (see `locateFrontEnd`), else the status page; `null`: always the status page.
   */
  frontEnd?: string | null;
  /**
   * The built front-end extension (`dist/web`, from `npm run build`) that `GET /extensions` lists and
   * `/extensions/cones-nodes/` serves. Default: this package's own `dist/web` when it exists; `null`:
   * none (the list is empty).
   */
  webExtensionDir?: string | null;
  /**
   * Requests must carry `Authorization: Bearer <token>`, `?token=<token>` or the cookie set by `/?token=`.
   * At least `MIN_AUTH_TOKEN_LENGTH` (16) printable ASCII characters; a blank or shorter one is refused.
   */
  authToken?: string;
  /** Allow binding a non-loopback address without a token. */
  insecure?: boolean;
  /**
   * ComfyUI's `--enable-cors-header`: send CORS headers allowing this origin (`*` for any) and answer
   * preflights; the cross-origin check is then off (the token, when set, still applies).
   */
  corsOrigin?: string;
  /** Use this engine instead of creating one (the server then does not close it unless `closeService`). */
  service?: PromptService;
  /** Folders the passed `service` uses; required with `service` unless `dataDir` layout applies. */
  dirs?: DataDirs;
  /** Close a passed `service` on `close()` (always true for a service the server created). */
  closeService?: boolean;
  limits?: Partial<ServerLimits>;
  /** Log requests to stdout (pino through fastify). Default false. */
  logger?: boolean;
  /**
   * The demo checkpoint (`tiny-sd1-demo.safetensors`) placed into the service's own checkpoints folder
   * at start when missing (src/sd/demo-checkpoint.ts); `startServer` resolves once it exists.
   * 'shipped': the trained toy-world model the package ships (random weights where it ships none; an
   * old generated random demo there is replaced); 'random': random tiny SD1 weights (the tests' model);
   * false: nothing at start (the first checkpoint listing still places one, as CONES_DEMO_MODEL says).
   * Default (also `true`): CONES_DEMO_MODEL, else 'shipped'.
   */
  demoCheckpoint?: DemoModel | boolean;
  /**
   * The runtime's devices for `/system_stats` (distributed mode: one entry per live worker, see
   * src/runtime/queue/queue-runtime.ts). Default: this machine's CPU.
   */
  runtimeDevices?: () => Promise<object[]>;
}

export interface RunningServer {
  /** A URL that reaches it from this machine, e.g. http://127.0.0.1:8189 (also for a 0.0.0.0 bind). */
  url: string;
  port: number;
  /** The address it is bound to and where it can be reached from (the banner's source). */
  listen: ListenAddress;
  service: PromptService;
  dirs: DataDirs;
  /** The front end served at `/` and where it came from, or why `/` shows the status page. */
  frontEnd: FrontEndChoice;
  close(): Promise<void>;
}

const MiB = 1024 * 1024;

export function resolveLimits(partial: Partial<ServerLimits> = {}): ServerLimits {
  const maxUploadBytes = partial.maxUploadBytes ?? 100 * MiB;
  return {
    maxBodyBytes: partial.maxBodyBytes ?? 32 * MiB,
    maxUploadBytes,
    maxComfyFrameBytes: partial.maxComfyFrameBytes ?? 1 * MiB,
    maxNativeFrameBytes: partial.maxNativeFrameBytes ?? maxUploadBytes + 1 * MiB,
  };
}
