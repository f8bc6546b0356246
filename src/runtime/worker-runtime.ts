import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { InterruptedError } from '../shared/interrupted.js';
import { type RuntimeSettings, resolveRuntimeSettings } from '../shared/runtime-settings.js';
import type { TaskCallOptions, TaskProgress } from '../shared/tasks.js';
import type { CallMessage, WorkerData, WorkerMessage } from './protocol.js';
import type { RuntimeClient, TaskMap, TaskName } from './task-map.js';

/** Error thrown in a runtime task, re-raised on the main thread with the worker's stack. */
export class RuntimeTaskError extends Error {
  constructor(
    message: string,
    readonly task: string,
    readonly workerStack?: string,
    name = 'RuntimeTaskError',
  ) {
    super(message);
    this.name = name;
    if (workerStack) this.stack = workerStack;
  }
}

export interface WorkerRuntimeOptions {
  /** Worker entry; defaults to worker-main.ts next to this file (tsx) or dist/runtime-worker.js. */
  entry?: URL;
  /** Receives `ctx.log` lines of tasks. */
  log?: (message: string) => void;
  /**
   * The workers' settings. Default: resolved from the `CONES_*` environment variables each time a
   * worker starts (src/shared/runtime-settings.ts).
   */
  settings?: RuntimeSettings;
}

interface PendingCall {
  task: string;
  resolve(value: unknown): void;
  reject(error: unknown): void;
  onProgress?: (p: TaskProgress) => void;
  abortFlag: Int32Array;
  cleanup(): void;
}

function defaultEntry(): URL {
  const here = import.meta.url;
  // In the bundle every module sits flat in dist/, next to runtime-worker.js (tsup.config.ts).
  return here.endsWith('.ts') ? new URL('./worker-main.ts', here) : new URL('./runtime-worker.js', here);
}

/**
 * A worker running a .ts entry (tests, tsx). Node 20 does not apply `--import tsx` hooks inside worker
 * threads, so the worker registers tsx's ESM hooks itself before importing the entry.
 */
function tsWorker(entry: URL, workerData: WorkerData): Worker {
  // The ESM build of tsx's API, located through its package.json (its CJS build cannot register ESM hooks here).
  const pkgPath = createRequire(import.meta.url).resolve('tsx/package.json');
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as {
    exports: Record<string, { import: { default: string } }>;
  };
  const api = pathToFileURL(join(dirname(pkgPath), pkg.exports['./esm/api'].import.default)).href;
  const code = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); })`;
  return new Worker(code, { eval: true, workerData });
}

/**
 * RuntimeClient backed by one worker thread. Tasks that keep state between calls (loaded models,
 * ONNX sessions) therefore always meet that state. A crashed worker fails its in-flight calls and is
 * started again on the next call.
 */
export class WorkerRuntime implements RuntimeClient {
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, PendingCall>();
  private readonly entry: URL;
  private closed = false;
  /** How many workers were started so far (restarts after crashes included). */
  startCount = 0;

  constructor(private readonly options: WorkerRuntimeOptions = {}) {
    this.entry = options.entry ?? defaultEntry();
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const workerData: WorkerData = { settings: this.options.settings ?? resolveRuntimeSettings() };
    const worker = this.entry.pathname.endsWith('.ts')
      ? tsWorker(this.entry, workerData)
      : new Worker(this.entry, { workerData });
    this.startCount++;
    let crash: Error | null = null;
    worker.on('message', (msg: WorkerMessage) => this.onMessage(msg));
    worker.on('error', (error) => {
      crash = error;
    });
    worker.on('exit', (code) => {
      if (this.worker === worker) this.worker = null;
      const reason = crash ? `: ${crash.message}` : '';
      for (const [id, call] of this.pending) {
        this.pending.delete(id);
        call.cleanup();
        const error = new RuntimeTaskError(
          `runtime worker stopped (exit code ${code}) while running '${call.task}'${reason}`,
          call.task,
          crash?.stack,
          'RuntimeWorkerCrash',
        );
        call.reject(error);
      }
    });
    worker.unref(); // an idle worker must not keep the process alive; `call` refs it while busy
    this.worker = worker;
    return worker;
  }

  private updateRef(): void {
    if (!this.worker) return;
    if (this.pending.size > 0) this.worker.ref();
    else this.worker.unref();
  }

  private onMessage(msg: WorkerMessage): void {
    const call = this.pending.get(msg.id);
    if (msg.type === 'log') {
      this.options.log?.(msg.message);
      return;
    }
    if (!call) return; // aborted calls: the worker's late answers are dropped
    if (msg.type === 'progress') {
      call.onProgress?.({ value: msg.value, max: msg.max, preview: msg.preview, metrics: msg.metrics });
      return;
    }
    this.pending.delete(msg.id);
    this.updateRef();
    call.cleanup();
    if (msg.type === 'result') call.resolve(msg.result);
    else if (msg.error.interrupted) call.reject(new InterruptedError());
    else call.reject(new RuntimeTaskError(msg.error.message, call.task, msg.error.stack, msg.error.name));
  }

  call<K extends TaskName>(
    task: K,
    payload: TaskMap[K]['payload'],
    options: TaskCallOptions<TaskMap[K]['progress']> = {},
  ): Promise<TaskMap[K]['result']> {
    type T = TaskMap[K]['result'];
    if (this.closed) return Promise.reject(new Error('runtime is closed'));
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(new InterruptedError());
    let worker: Worker;
    try {
      worker = this.ensureWorker();
    } catch (error) {
      return Promise.reject(error); // settings the environment gives that cannot be used
    }
    const id = this.nextId++;
    const abort = new SharedArrayBuffer(4);
    const abortFlag = new Int32Array(abort);
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        Atomics.store(abortFlag, 0, 1);
        // The node stops now; the task sees the flag at its next check and its answer is dropped.
        if (this.pending.delete(id)) {
          this.updateRef();
          signal?.removeEventListener('abort', onAbort);
          reject(new InterruptedError());
        }
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(id, {
        task,
        resolve: resolve as (v: unknown) => void,
        reject,
        // Workers report `TaskProgress` (TaskContext.progress), the progress type of every task today.
        onProgress: options.onProgress as ((p: TaskProgress) => void) | undefined,
        abortFlag,
        cleanup: () => signal?.removeEventListener('abort', onAbort),
      });
      this.updateRef();
      const message: CallMessage = { type: 'call', id, task, payload, abort };
      try {
        worker.postMessage(message, options.transfer ?? []);
      } catch (error) {
        this.pending.delete(id);
        this.updateRef();
        signal?.removeEventListener('abort', onAbort);
        reject(error);
      }
    });
  }

  /** Calls currently in flight. */
  get inFlight(): number {
    return this.pending.size;
  }

  async close(): Promise<void> {
    this.closed = true;
    const worker = this.worker;
    this.worker = null;
    if (worker) await worker.terminate();
  }
}
