import { randomUUID } from 'node:crypto';
import { type CarriedConcept, embedCarried } from '../cones/embed.js';
import { createNodeRegistry } from '../nodes/index.js';
import type { NodeRegistry } from '../nodes/registry.js';
import type { NodeDefinition, NodeEnvironment } from '../nodes/types.js';
import type { RuntimeClient } from '../runtime/task-map.js';
import { WorkerRuntime } from '../runtime/worker-runtime.js';
import type { RuntimeSettings } from '../shared/runtime-settings.js';
import type { DataDirs } from '../shared/types.js';
import { resolveDataDirs } from './data-dirs.js';
import { Executor } from './executor.js';
import { PromptHistory } from './history.js';
import { type Job, queueItemOf } from './job.js';
import { OutputCache } from './output-cache.js';
import { PromptQueue } from './prompt-queue.js';
import { loggedError, publicError } from './public-error.js';
import type {
  EngineEvent,
  HistoryEntry,
  PromptService,
  QueueItem,
  QueuePromptRequest,
  QueuePromptResult,
} from './service-types.js';
import { validatePrompt } from './validate.js';

export interface PromptServiceOptions {
  /** Data folders: given resolved, or resolved (and created) from `dataDir` [+ `comfyuiDir`]. */
  dirs?: DataDirs;
  dataDir?: string;
  comfyuiDir?: string;
  /** Node registry; defaults to every shipped family (nodes/index.ts). */
  registry?: NodeRegistry;
  /** Extra node definitions registered on top (tests, embedders). */
  extraNodes?: NodeDefinition[];
  /** Worker client; defaults to a `WorkerRuntime` (closed with the service). */
  runtime?: RuntimeClient & { close?(): Promise<void> };
  /** Settings of the default runtime's workers (default: from the `CONES_*` environment variables). */
  runtimeSettings?: RuntimeSettings;
  maxHistory?: number;
  /** Engine log lines (node logs, exceptions). Default: stderr. */
  log?: (message: string) => void;
  /** Called by `free({unload_models})` after the workers' unload hooks ran (main-thread state). */
  onUnloadModels?: () => Promise<void>;
}

/** The engine's PromptService plus what embedders and tests need. */
export interface EnginePromptService extends PromptService {
  readonly registry: NodeRegistry;
  readonly env: NodeEnvironment;
  readonly runtime: RuntimeClient;
  /** Resolves with the history entry once `promptId` has finished (rejects if it is unknown). */
  waitForPrompt(promptId: string): Promise<HistoryEntry>;
  /** Resolves when nothing is pending or running. */
  whenIdle(): Promise<void>;
}

const SENSITIVE_EXTRA_DATA = ['auth_token_comfy_org', 'api_key_comfy_org'];
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The job as history shows it: its prompt and UI workflow carry the concepts the run loaded or made. */
function carryingConcepts(job: Job, carried: CarriedConcept[]): Job {
  if (carried.length === 0) return job;
  const extraData = { ...job.extraData };
  const info = extraData.extra_pnginfo;
  if (info && typeof info === 'object' && 'workflow' in info) {
    const workflow = (info as Record<string, unknown>).workflow;
    extraData.extra_pnginfo = { ...info, workflow: embedCarried(workflow, carried) };
  }
  return { ...job, prompt: embedCarried(job.prompt, carried), extraData };
}

export function createPromptService(options: PromptServiceOptions): EnginePromptService {
  const dirs =
    options.dirs ??
    (options.dataDir !== undefined
      ? resolveDataDirs({ dataDir: options.dataDir, comfyuiDir: options.comfyuiDir })
      : undefined);
  if (!dirs) throw new Error('createPromptService needs `dirs` or `dataDir`');
  /** Work node code started outside prompts (e.g. the demo checkpoint write); close() waits for it. */
  const backgroundWork = new Set<Promise<unknown>>();
  const env: NodeEnvironment = {
    dirs,
    trackBackgroundWork(work) {
      backgroundWork.add(work);
      const forget = () => backgroundWork.delete(work);
      work.then(forget, forget);
    },
  };
  const registry = options.registry ?? createNodeRegistry();
  if (options.extraNodes?.length) registry.register(...options.extraNodes);
  const log = options.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const ownRuntime = !options.runtime;
  const runtime = options.runtime ?? new WorkerRuntime({ log, settings: options.runtimeSettings });
  const cache = new OutputCache();
  const queue = new PromptQueue();
  const history = new PromptHistory(options.maxHistory);
  const listeners = new Set<(e: EngineEvent) => void>();
  const waiters = new Map<string, Array<{ resolve(h: HistoryEntry): void; reject(e: Error): void }>>();
  /** Fails the waiters of prompts that left the queue without running. */
  const dropWaiters = (keep: (promptId: string) => boolean) => {
    for (const [id, list] of waiters) {
      if (keep(id)) continue;
      waiters.delete(id);
      for (const w of list) w.reject(new Error(`prompt ${id} was removed from the queue before it ran`));
    }
  };
  let idleWaiters: Array<() => void> = [];
  let running: { job: Job; abort: AbortController; done: Promise<void> } | null = null;
  let closed = false;
  let closing: Promise<void> | undefined;

  let currentNode: string | null = null;
  const emit = (event: EngineEvent) => {
    if (event.kind === 'json' && event.type === 'executing' && running?.job.promptId === event.data.prompt_id)
      currentNode = (event.data.node as string | null) ?? null;
    for (const l of listeners) {
      try {
        l(event);
      } catch (error) {
        log(`event listener failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  };
  const executor = new Executor({ registry, env, runtime, cache, emit, log });
  const queueRemaining = () => queue.size + (running ? 1 : 0);
  const broadcastStatus = () =>
    emit({
      kind: 'json',
      clientId: null,
      type: 'status',
      data: { status: { exec_info: { queue_remaining: queueRemaining() } } },
    });

  const settleIdle = () => {
    if (running || queue.size > 0) return;
    const w = idleWaiters;
    idleWaiters = [];
    for (const resolve of w) resolve();
  };

  async function run(job: Job, abort: AbortController): Promise<void> {
    let entry: HistoryEntry;
    try {
      const { carried, ...outcome } = await executor.execute(job, abort.signal);
      entry = { prompt: queueItemOf(carryingConcepts(job, carried)), ...outcome };
    } catch (error) {
      // Failures outside any node (e.g. a fingerprint walk) still end the job cleanly.
      log(`prompt ${job.promptId} failed outside a node: ${loggedError(error)}`);
      const data = {
        prompt_id: job.promptId,
        node_id: null,
        node_type: null,
        executed: [],
        ...publicError(error),
        current_inputs: {},
        current_outputs: [],
        timestamp: Date.now(),
      };
      if (job.clientId !== null)
        emit({ kind: 'json', clientId: job.clientId, type: 'execution_error', data });
      entry = {
        prompt: queueItemOf(job),
        outputs: {},
        status: { status_str: 'error', completed: false, messages: [['execution_error', data]] },
        meta: {},
      };
    }
    // ComfyUI order: history written → `status` (queue shrinks) → `executing {node: null}`.
    history.add(job.promptId, entry);
    running = null;
    broadcastStatus();
    emit({
      kind: 'json',
      clientId: job.clientId,
      type: 'executing',
      data: { node: null, prompt_id: job.promptId },
    });
    for (const w of waiters.get(job.promptId) ?? []) w.resolve(entry);
    waiters.delete(job.promptId);
  }

  function pump(): void {
    if (running || closed) return;
    const job = queue.take();
    if (!job) {
      settleIdle();
      return;
    }
    const abort = new AbortController();
    const current: { job: Job; abort: AbortController; done: Promise<void> } = {
      job,
      abort,
      done: Promise.resolve(),
    };
    running = current;
    currentNode = null;
    broadcastStatus();
    current.done = run(job, abort).finally(() => setImmediate(pump));
  }

  const service: EnginePromptService = {
    registry,
    env,
    runtime,

    async queuePrompt(request: QueuePromptRequest): Promise<QueuePromptResult> {
      const fail = (type: string, message: string, details = ''): QueuePromptResult => ({
        ok: false,
        error: { type, message, details, extra_info: {} },
        node_errors: {},
      });
      if (closed) return fail('service_closed', 'The service is shutting down');
      if (!request || request.prompt === undefined || request.prompt === null)
        return fail('no_prompt', 'No prompt provided', 'No prompt provided');
      let promptId: string = randomUUID();
      if (request.prompt_id !== undefined && request.prompt_id !== null) {
        if (typeof request.prompt_id !== 'string' || !UUID_RE.test(request.prompt_id))
          return fail(
            'invalid_prompt_id',
            'Invalid prompt_id',
            'prompt_id must be a lowercase canonical UUID',
          );
        if (queue.has(request.prompt_id) || running?.job.promptId === request.prompt_id)
          return fail(
            'invalid_prompt_id',
            'Invalid prompt_id',
            `prompt_id ${request.prompt_id} is already queued`,
          );
        promptId = request.prompt_id;
      }
      const targets = Array.isArray(request.partial_execution_targets)
        ? request.partial_execution_targets.map(String)
        : null;
      const pnginfo = request.extra_data?.extra_pnginfo;
      const verdict = await validatePrompt(
        request.prompt,
        registry,
        env,
        targets,
        log,
        pnginfo && typeof pnginfo === 'object' && !Array.isArray(pnginfo)
          ? (pnginfo as Record<string, unknown>)
          : {},
      );
      if (!verdict.ok) return { ok: false, error: verdict.error, node_errors: verdict.nodeErrors };
      const explicit = Number(request.number);
      const number =
        request.number !== undefined && request.number !== null && Number.isFinite(explicit)
          ? explicit
          : queue.nextNumber(request.front === true);
      const extraData: Record<string, unknown> = { ...(request.extra_data ?? {}) };
      for (const key of SENSITIVE_EXTRA_DATA) delete extraData[key];
      const clientId = typeof request.client_id === 'string' && request.client_id ? request.client_id : null;
      if (clientId !== null) extraData.client_id = clientId;
      extraData.create_time = Date.now();
      const job: Job = {
        number,
        promptId,
        prompt: verdict.prompt,
        extraData,
        outputs: verdict.outputs,
        skipped: verdict.skipped,
        clientId,
      };
      queue.put(job);
      broadcastStatus();
      setImmediate(pump);
      return { ok: true, prompt_id: promptId, number, node_errors: verdict.nodeErrors };
    },

    getQueue() {
      return {
        queue_running: running ? [queueItemOf(running.job)] : [],
        queue_pending: queue.jobs().map(queueItemOf) as QueueItem[],
      };
    },

    queueRemaining,

    deleteFromQueue(promptIds: string[]) {
      if (queue.delete(promptIds) > 0) {
        dropWaiters((id) => !promptIds.includes(id));
        broadcastStatus();
        settleIdle();
      }
    },

    clearQueue() {
      queue.clear();
      dropWaiters((id) => running?.job.promptId === id);
      broadcastStatus();
      settleIdle();
    },

    interrupt(promptId?: string) {
      if (!running) return;
      if (promptId && running.job.promptId !== promptId) return;
      running.abort.abort();
    },

    currentExecution() {
      if (!running) return null;
      return { prompt_id: running.job.promptId, node: currentNode, client_id: running.job.clientId };
    },

    getHistory(opts) {
      return history.list(opts);
    },

    getHistoryItem(promptId: string) {
      const entry = history.get(promptId);
      return entry ? { [promptId]: entry } : {};
    },

    deleteHistory(promptIds: string[]) {
      history.delete(promptIds);
    },

    clearHistory() {
      history.clear();
    },

    async free(opts) {
      if (opts.free_memory || opts.unload_models) cache.clear();
      if (opts.unload_models) {
        // Worker-side modules drop their models through `onUnloadModels` hooks (src/shared/model-unload.ts).
        await runtime.call('runtime.unloadModels', {}).catch((error: unknown) => {
          log(`unloading models failed: ${error instanceof Error ? error.message : String(error)}`);
        });
        await options.onUnloadModels?.();
      }
    },

    async objectInfo() {
      return registry.objectInfo(env) as unknown as Record<string, unknown>;
    },

    onEvent(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },

    waitForPrompt(promptId: string) {
      const done = history.get(promptId);
      if (done) return Promise.resolve(done);
      if (!queue.has(promptId) && running?.job.promptId !== promptId)
        return Promise.reject(new Error(`prompt ${promptId} is neither queued nor finished`));
      return new Promise((resolve, reject) => {
        const list = waiters.get(promptId) ?? [];
        list.push({ resolve, reject });
        waiters.set(promptId, list);
      });
    },

    whenIdle() {
      if (!running && queue.size === 0) return Promise.resolve();
      return new Promise((resolve) => idleWaiters.push(resolve));
    },

    close() {
      // Every caller waits for the same shutdown, not only the first.
      closing ??= (async () => {
        closed = true;
        queue.clear();
        dropWaiters((id) => running?.job.promptId === id);
        const current = running;
        if (current) {
          current.abort.abort();
          await current.done.catch(() => {});
        }
        settleIdle();
        listeners.clear();
        if (ownRuntime) await (runtime as WorkerRuntime).close();
        // Failures were already handled where the work started; here only its end matters.
        while (backgroundWork.size > 0) await Promise.allSettled([...backgroundWork]);
      })();
      return closing;
    },
  };
  return service;
}
