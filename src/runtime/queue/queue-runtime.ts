/**
 * The front's `RuntimeClient` in distributed mode (`serve --queue redis://…`): each runtime task call
 * becomes a BullMQ job that any `cones-nodes worker` can run. The engine and the nodes do not know the
 * difference: progress (with binary previews and metrics), logs, results and errors come back on this
 * front's own pub/sub channel in the order the worker sent them, so clients see the same event order
 * as with the in-process `WorkerRuntime`.
 *
 * Redis going away: calls already sent stay pending; new calls wait for it (up to
 * `unreachableWaitMs`, then fail with an error naming the URL). When it is back, pending calls whose
 * job Redis lost (a restart without persistence) and that no live worker reports running are sent
 * again with the payload this front still holds, so nothing queued is lost.
 */
import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { InterruptedError } from '../../shared/interrupted.js';
import type { TaskCallOptions, TaskProgress } from '../../shared/tasks.js';
import type { RuntimeClient, TaskMap, TaskName } from '../task-map.js';
import { RuntimeTaskError } from '../worker-runtime.js';
import { FrontHandles, fingerprintIn } from './handles.js';
import { readLiveWorkers } from './registry.js';
import { isProbe, subscribeVerified } from './subscribe.js';
import {
  type ControlMessage,
  channels,
  displayUrl,
  type FrontFrame,
  GENERAL_QUEUE,
  keys,
  modelQueueName,
  pack,
  type QueueJobData,
  unpack,
  type WorkerInfo,
} from './wire.js';

export interface QueueRuntimeOptions {
  /** redis://HOST:PORT[/DB] */
  url: string;
  /** The front's checkpoints folders: handles travel as names relative to them. */
  checkpointFolders: readonly string[];
  log?: (message: string) => void;
  /** How long a new call waits for an unreachable Redis before it fails. Default 60 s. */
  unreachableWaitMs?: number;
  /** How often pending calls are checked for lost jobs and results. Default 1 s. */
  reconcileMs?: number;
  /** How long `/free` waits for the workers' answers. Default 15 s. */
  unloadWaitMs?: number;
}

/** One `/system_stats` device entry per live worker (ComfyUI's fields, plus `worker`). */
export interface WorkerDevice {
  name: string;
  type: string;
  index: number;
  vram_total: number;
  vram_free: number;
  torch_vram_total: number;
  torch_vram_free: number;
  worker: { id: string; host: string; pid: number; models: string[]; running: string | null };
}

interface PendingCall {
  callId: string;
  task: TaskName;
  payload: unknown;
  /** The payload as it travels (set once, kept for re-submission). */
  bytes?: Buffer;
  data: QueueJobData;
  queueName?: string;
  resolve(value: unknown): void;
  reject(error: unknown): void;
  onProgress?: (p: TaskProgress) => void;
  cleanup(): void;
  /** Reconcile ticks in a row that found the outcome stored but not yet delivered / the job gone. */
  outcomeTicks: number;
  lostTicks: number;
}

const PAYLOAD_TTL_S = 24 * 3600;
const JOB_OPTIONS = { removeOnComplete: true, removeOnFail: { age: 3600 } } as const;

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export class QueueRuntime implements RuntimeClient {
  readonly frontId = randomUUID();
  private readonly client: Redis;
  private readonly subscriber: Redis;
  private readonly queues = new Map<string, Queue>();
  private readonly pending = new Map<string, PendingCall>();
  private readonly unloads = new Map<string, (frame: FrontFrame & { type: 'unloaded' }) => void>();
  private readonly handles: FrontHandles;
  private readonly log: (message: string) => void;
  private readonly reconcileTimer: NodeJS.Timeout;
  private reachable = false;
  private wasReachable = false;
  private lastError = 'not connected yet';
  private readyWaiters = new Set<() => void>();
  private closed = false;
  private reconciling = false;
  private subscribed = false;

  private constructor(private readonly options: QueueRuntimeOptions) {
    this.log = options.log ?? ((m) => console.log(m));
    this.handles = new FrontHandles(options.checkpointFolders);
    const redisOptions = {
      maxRetriesPerRequest: null,
      retryStrategy: (n: number) => Math.min(100 * n, 1000),
    };
    this.client = new Redis(options.url, redisOptions);
    this.subscriber = new Redis(options.url, redisOptions);
    this.client.on('error', (error: Error) => this.onDown(error));
    this.subscriber.on('error', () => {}); // reported through the command connection
    this.client.on('close', () => this.onDown());
    this.client.on('ready', () => this.onReady());
    this.subscriber.on('messageBuffer', (_channel: Buffer, message: Buffer) => {
      if (!isProbe(message)) this.onFrame(message);
    });
    // ioredis subscribes again after a reconnect; make sure that one took as well.
    this.subscriber.on('ready', () => {
      if (this.subscribed && !this.closed) void this.resubscribe();
    });
    this.reconcileTimer = setInterval(() => void this.reconcile(), options.reconcileMs ?? 1000);
    this.reconcileTimer.unref();
  }

  /** Connects to Redis; fails with the reason when it cannot be reached within `timeoutMs`. */
  static async connect(options: QueueRuntimeOptions, timeoutMs = 10_000): Promise<QueueRuntime> {
    const runtime = new QueueRuntime(options);
    try {
      await runtime.waitReachable(timeoutMs);
      await subscribeVerified(
        runtime.subscriber,
        runtime.client,
        [channels.events(runtime.frontId)],
        timeoutMs,
      );
      runtime.subscribed = true;
    } catch (error) {
      await runtime.close();
      throw new Error(`cannot reach the task queue at ${displayUrl(options.url)}: ${describe(error)}`);
    }
    return runtime;
  }

  /** The Redis URL without its password (for logs and banners). */
  get url(): string {
    return displayUrl(this.options.url);
  }

  private async resubscribe(): Promise<void> {
    try {
      await subscribeVerified(this.subscriber, this.client, [channels.events(this.frontId)], 60_000);
    } catch (error) {
      if (!this.closed)
        this.log(`queue: could not subscribe to this front's channel again: ${describe(error)}`);
    }
  }

  /** The connection failed (`error`) or closed (then the last error, if any, says why). */
  private onDown(error?: Error): void {
    if (error) this.lastError = describe(error) || error.name;
    else if (this.reachable) this.lastError = 'connection closed';
    if (!this.reachable || this.closed) return;
    this.reachable = false;
    const wait = Math.round((this.options.unreachableWaitMs ?? 60_000) / 1000);
    this.log(
      `queue: lost the connection to ${this.url} (${this.lastError}); ${this.pending.size} runtime task(s) pending, new ones wait up to ${wait} s for it`,
    );
  }

  private onReady(): void {
    this.reachable = true;
    if (this.wasReachable) this.log(`queue: connected to ${this.url} again`);
    this.wasReachable = true;
    for (const wake of this.readyWaiters) wake();
    this.readyWaiters.clear();
    void this.reconcile();
  }

  private waitReachable(timeoutMs: number): Promise<void> {
    if (this.reachable) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const wake = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.readyWaiters.delete(wake);
        reject(new Error(this.lastError));
      }, timeoutMs);
      this.readyWaiters.add(wake);
    });
  }

  private queue(name: string): Queue {
    let queue = this.queues.get(name);
    if (!queue) {
      queue = new Queue(name, { connection: this.client });
      queue.on('error', () => {}); // connection errors are reported once, by onDown
      this.queues.set(name, queue);
    }
    return queue;
  }

  /** Live workers, as their heartbeats describe them. */
  workers(): Promise<WorkerInfo[]> {
    return readLiveWorkers(this.client);
  }

  /** `/system_stats` devices: one entry per live worker. */
  async devices(): Promise<WorkerDevice[]> {
    if (!this.reachable) return [];
    const workers = await this.workers();
    return workers.map((w, index) => ({
      name: `worker ${w.id} (${w.provider})`,
      type: w.provider === 'cuda' ? 'cuda' : 'cpu',
      index,
      vram_total: w.ramTotal,
      vram_free: w.ramFree,
      torch_vram_total: 0,
      torch_vram_free: 0,
      worker: {
        id: w.id,
        host: w.host,
        pid: w.pid,
        models: w.models,
        running: w.running ? w.running.task : null,
      },
    }));
  }

  call<K extends TaskName>(
    task: K,
    payload: TaskMap[K]['payload'],
    options: TaskCallOptions<TaskMap[K]['progress']> = {},
  ): Promise<TaskMap[K]['result']> {
    if (this.closed) return Promise.reject(new Error('runtime is closed'));
    if (task === 'runtime.unloadModels') return this.unloadModels() as Promise<TaskMap[K]['result']>;
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(new InterruptedError());
    const callId = randomUUID();
    const data: QueueJobData = { callId, task, frontId: this.frontId, fingerprint: fingerprintIn(payload) };
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        if (!this.pending.has(callId)) return;
        const call = this.pending.get(callId)!;
        this.pending.delete(callId);
        reject(new InterruptedError());
        void this.cancel(call);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const call: PendingCall = {
        callId,
        task,
        payload,
        data,
        resolve: resolve as (v: unknown) => void,
        reject,
        onProgress: options.onProgress as ((p: TaskProgress) => void) | undefined,
        cleanup: () => signal?.removeEventListener('abort', onAbort),
        outcomeTicks: 0,
        lostTicks: 0,
      };
      this.pending.set(callId, call);
      this.submit(call).catch((error: unknown) => this.settle(callId, error));
    });
  }

  /** Calls in flight. */
  get inFlight(): number {
    return this.pending.size;
  }

  private async submit(call: PendingCall): Promise<void> {
    try {
      await this.waitReachable(this.options.unreachableWaitMs ?? 60_000);
    } catch {
      throw new Error(
        `the task queue at ${this.url} is unreachable (${this.lastError}); runtime task '${call.task}' was not sent. Is redis-server running?`,
      );
    }
    if (!this.pending.has(call.callId)) return; // aborted while waiting
    const wire =
      call.task === 'sd.loadCheckpoint'
        ? await this.handles.loadPayloadToWire(call.payload as { path: string })
        : this.handles.toWire(call.payload);
    call.bytes = pack(wire);
    call.payload = undefined; // only the packed form is kept
    call.queueName ??= await this.route(call.data.fingerprint);
    await this.enqueue(call);
  }

  private async enqueue(call: PendingCall): Promise<void> {
    const name = call.queueName!;
    await this.client.set(keys.payload(call.callId), call.bytes!, 'EX', PAYLOAD_TTL_S);
    if (name !== GENERAL_QUEUE) await this.client.sadd(keys.modelQueues, name);
    // jobId = callId: adding it again (re-submission) is a no-op while BullMQ still has it.
    await this.queue(name).add(call.task, call.data, { ...JOB_OPTIONS, jobId: call.callId });
    await this.client.publish(channels.wake, name);
  }

  /**
   * Where a task goes: to its model's queue when a live worker holds that model (holders take from
   * it first, see queue-worker.ts), else to the general queue.
   */
  private async route(fingerprint: string | undefined): Promise<string> {
    if (!fingerprint) return GENERAL_QUEUE;
    const workers = await this.workers();
    return workers.some((w) => w.models.includes(fingerprint)) ? modelQueueName(fingerprint) : GENERAL_QUEUE;
  }

  private async cancel(call: PendingCall): Promise<void> {
    call.cleanup();
    if (!this.reachable) return; // the re-submission check drops it: it is no longer pending
    try {
      await this.client.set(keys.cancelled(call.callId), '1', 'EX', 3600);
      await this.client.publish(channels.cancel, call.callId);
      // A job nobody started yet is removed outright; a running one is locked and stops on the signal.
      if (call.queueName)
        await this.queue(call.queueName)
          .remove(call.callId)
          .catch(() => 0);
      await this.client.del(keys.payload(call.callId));
    } catch (error) {
      this.log(`queue: could not cancel runtime task '${call.task}': ${describe(error)}`);
    }
  }

  private onFrame(message: Buffer): void {
    let frame: FrontFrame;
    try {
      frame = unpack<FrontFrame>(message);
    } catch (error) {
      this.log(`queue: dropped an unreadable frame: ${describe(error)}`);
      return;
    }
    if (frame.type === 'unloaded') {
      this.unloads.get(frame.requestId)?.(frame);
      return;
    }
    const call = this.pending.get(frame.callId);
    if (!call) return; // settled or aborted: late frames are dropped
    switch (frame.type) {
      case 'started':
        if (frame.attempt > 1)
          this.log(
            `queue: runtime task '${call.task}' started again on worker ${frame.worker} (attempt ${frame.attempt}; the previous worker stopped)`,
          );
        return;
      case 'progress':
        call.onProgress?.({
          value: frame.value,
          max: frame.max,
          preview: frame.preview,
          metrics: frame.metrics,
        });
        return;
      case 'log':
        this.log(frame.message);
        return;
      case 'result':
        this.settle(frame.callId, undefined, this.handles.fromWire(frame.result));
        return;
      case 'error': {
        const e = frame.error;
        this.settle(
          frame.callId,
          e.interrupted
            ? new InterruptedError()
            : new RuntimeTaskError(e.message, call.task, e.stack, e.name),
        );
      }
    }
  }

  private settle(callId: string, error: unknown, result?: unknown): void {
    const call = this.pending.get(callId);
    if (!call) return;
    this.pending.delete(callId);
    call.cleanup();
    if (error === undefined) call.resolve(result);
    else call.reject(error);
    if (this.reachable) void this.client.del(keys.payload(callId), keys.outcome(callId)).catch(() => {});
  }

  /**
   * Catches what pub/sub cannot promise: an outcome published while this front was disconnected (it
   * is also stored, and delivered from there one tick later so frames still in flight come first), a
   * job BullMQ gave up on (stalled too often), and jobs Redis lost (sent again).
   */
  private async reconcile(): Promise<void> {
    if (!this.reachable || this.reconciling || this.pending.size === 0) return;
    this.reconciling = true;
    try {
      let workers: WorkerInfo[] | undefined;
      for (const call of [...this.pending.values()]) {
        if (!call.queueName || !this.pending.has(call.callId)) continue;
        const stored = await this.client.getBuffer(keys.outcome(call.callId));
        if (stored) {
          if (++call.outcomeTicks >= 2) this.onFrame(stored);
          continue;
        }
        const state = await this.queue(call.queueName).getJobState(call.callId);
        if (state === 'failed') {
          const job = await this.queue(call.queueName).getJob(call.callId);
          this.settle(
            call.callId,
            new RuntimeTaskError(
              `runtime task '${call.task}' failed in the queue: ${job?.failedReason ?? 'unknown reason'}`,
              call.task,
            ),
          );
        } else if (state === 'unknown') {
          workers ??= await this.workers();
          const running = workers.some((w) => w.running?.callId === call.callId);
          if (running || ++call.lostTicks < 2) continue;
          call.lostTicks = 0;
          this.log(`queue: Redis lost runtime task '${call.task}' (restarted?); sending it again`);
          await this.enqueue(call);
        } else {
          call.lostTicks = 0;
        }
      }
    } catch (error) {
      if (this.reachable) this.log(`queue: checking pending tasks failed: ${describe(error)}`);
    } finally {
      this.reconciling = false;
    }
  }

  /** `/free` with unload_models: every live worker runs its unload hooks; resolves with their total. */
  private async unloadModels(): Promise<{ hooks: number }> {
    await this.waitReachable(this.options.unreachableWaitMs ?? 60_000);
    const workers = await this.workers();
    if (workers.length === 0) return { hooks: 0 };
    const requestId = randomUUID();
    const waiting = new Set(workers.map((w) => w.id));
    let hooks = 0;
    const failures: string[] = [];
    const done = new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        failures.push(`no answer from worker(s) ${[...waiting].join(', ')}`);
        resolve();
      }, this.options.unloadWaitMs ?? 15_000);
      this.unloads.set(requestId, (frame) => {
        waiting.delete(frame.worker);
        hooks += frame.hooks;
        if (frame.error) failures.push(`worker ${frame.worker}: ${frame.error}`);
        if (waiting.size === 0) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    const message: ControlMessage = { type: 'unload', frontId: this.frontId, requestId };
    await this.client.publish(channels.control, JSON.stringify(message));
    await done;
    this.unloads.delete(requestId);
    if (failures.length > 0) throw new Error(`unloading models: ${failures.join('; ')}`);
    return { hooks };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.reconcileTimer);
    for (const call of [...this.pending.values()]) this.settle(call.callId, new Error('runtime is closed'));
    await Promise.all([...this.queues.values()].map((q) => q.close().catch(() => {})));
    this.client.disconnect();
    this.subscriber.disconnect();
  }
}
