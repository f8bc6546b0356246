/**
 * A `cones-nodes worker` process: takes runtime task jobs from Redis and runs them on its own
 * `WorkerRuntime` thread (so ONNX Runtime's blocking runs never stall the lock renewals and pub/sub
 * traffic on this thread). One job at a time: a worker is one device.
 *
 * Model affinity. A task that uses a model is sent to that model's queue when some live worker holds
 * the model, else to the general queue (queue-runtime.ts). This worker fetches jobs itself, in this
 * order: (1) the queues of the models it holds, most recently used first; (2) the general queue;
 * (3) other models' queues whose holders are all busy or gone (work stealing: a busy or dead holder
 * must not leave jobs waiting while this worker idles; it then loads that model and holds it too).
 * BullMQ cannot express "prefer" on one queue, and one queue per worker would strand jobs of a dead
 * worker; queues per model give preference and still let any worker serve any task. Idle workers
 * wait on a wake-up channel and also poll, so jobs put back by stalled-job recovery are found.
 *
 * Crashes. Each job's lock is renewed while it runs; a worker killed with kill -9 stops renewing it,
 * and any worker's stalled checker puts the job back in its queue, where another worker takes it.
 * A job's outcome is stored in Redis before the job is marked complete, and a job whose outcome is
 * already stored is not run again, so no task runs twice to completion.
 */
import { freemem, hostname, totalmem } from 'node:os';
import { join } from 'node:path';
import { Worker as BullWorker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { InterruptedError } from '../../shared/interrupted.js';
import type { RuntimeSettings } from '../../shared/runtime-settings.js';
import type { TaskProgress } from '../../shared/tasks.js';
import type { TaskMap, TaskName } from '../task-map.js';
import { WorkerRuntime } from '../worker-runtime.js';
import { fingerprintIn, WorkerHandles } from './handles.js';
import { readLiveWorkers, removeWorkerInfo, writeWorkerInfo } from './registry.js';
import { subscribeVerified } from './subscribe.js';
import {
  type ControlMessage,
  channels,
  displayUrl,
  type FrontFrame,
  fingerprintOfQueue,
  GENERAL_QUEUE,
  keys,
  modelQueueName,
  pack,
  type QueueJobData,
  unpack,
  type WireError,
  type WorkerInfo,
} from './wire.js';

export interface QueueWorkerOptions {
  /** redis://HOST:PORT[/DB] */
  url: string;
  settings: RuntimeSettings;
  /** This machine's models folder: checkpoints are looked up in `<modelsDir>/checkpoints`. */
  modelsDir: string;
  /**
   * Extraction state (ξ checkpoints, result and prior caches) on storage every worker reaches. Replaces
   * the folder the front names, so a job taken over after a crash resumes from the last saved ξ.
   */
  stateDir?: string;
  /** Default `<host>-<pid>`. */
  id?: string;
  /** A running job's lock lives this long without renewal (BullMQ lockDuration). Default 30 s. */
  lockDurationMs?: number;
  /** How often stalled jobs are looked for (BullMQ stalledInterval). Default 30 s. */
  stalledIntervalMs?: number;
  /** Times a job may be found stalled before it fails (BullMQ maxStalledCount). Default 2. */
  maxStalledCount?: number;
  /** Heartbeat period; the worker counts as gone after three missed ones. Default 1 s. */
  heartbeatMs?: number;
  /** Idle workers look at the queues at least this often. Default 1 s. */
  pollMs?: number;
  log?: (message: string) => void;
  /** Entry of the runtime worker thread (tests). */
  runtimeEntry?: URL;
}

/** How many models a worker announces as held (the runtime's memory budget decides what really stays). */
const HELD_MODELS = 8;
const OUTCOME_TTL_S = 24 * 3600;
const STORE_AND_SEND = `if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
  redis.call('PUBLISH', ARGV[3], ARGV[1])
end
return 0`;

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function wireError(error: unknown): WireError {
  const e = error instanceof Error ? error : new Error(String(error));
  return { name: e.name, message: e.message, stack: e.stack, interrupted: e instanceof InterruptedError };
}

export class QueueWorker {
  readonly id: string;
  private readonly client: Redis;
  private readonly subscriber: Redis;
  /** ioredis connection the BullMQ workers share (their blocking connections are their own). */
  private readonly bullConnection: Redis;
  private readonly bull = new Map<string, BullWorker>();
  private readonly runtime: WorkerRuntime;
  private readonly handles: WorkerHandles;
  private readonly log: (message: string) => void;
  private held: string[] = [];
  private running: { callId: string; task: string; frontId: string; abort: AbortController } | undefined;
  private closing = false;
  private loopDone: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private tokenCount = 0;
  private readonly startedAt = Date.now();
  private fetchErrorLogged = false;
  /** The running task's computation (close() waits for it; its Redis traffic only so long). */
  private computing: Promise<unknown> | undefined;

  constructor(private readonly options: QueueWorkerOptions) {
    this.id = options.id ?? `${hostname()}-${process.pid}`;
    this.log = options.log ?? ((m) => console.log(m));
    this.handles = new WorkerHandles(join(options.modelsDir, 'checkpoints'), this.id);
    const redisOptions = {
      maxRetriesPerRequest: null,
      retryStrategy: (n: number) => Math.min(100 * n, 1000),
    };
    this.client = new Redis(options.url, redisOptions);
    this.subscriber = new Redis(options.url, redisOptions);
    this.bullConnection = new Redis(options.url, redisOptions);
    let down = false;
    this.client.on('error', (error: Error) => {
      if (down) return;
      down = true;
      this.log(
        `worker ${this.id}: lost the connection to ${displayUrl(options.url)} (${describe(error)}); retrying`,
      );
    });
    this.client.on('ready', () => {
      if (down) this.log(`worker ${this.id}: connected to ${displayUrl(options.url)} again`);
      down = false;
    });
    this.subscriber.on('error', () => {});
    this.bullConnection.on('error', () => {});
    this.runtime = new WorkerRuntime({
      settings: options.settings,
      entry: options.runtimeEntry,
      log: (message) => this.forwardLog(message),
    });
  }

  /** Connects, announces itself and starts taking jobs. */
  async start(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('no answer in 10 s')), 10_000);
    });
    try {
      await Promise.race([this.client.ping(), timeout]);
    } finally {
      clearTimeout(timer);
    }
    this.subscriber.on('message', (channel: string, message: string) => this.onMessage(channel, message));
    // The probe goes to the wake channel: other idle workers just look at the queues once more.
    const subscribe = () =>
      subscribeVerified(
        this.subscriber,
        this.client,
        [channels.wake, channels.cancel, channels.control],
        10_000,
      );
    await subscribe();
    // ioredis subscribes again after a reconnect; make sure that one took as well.
    this.subscriber.on('ready', () => {
      if (this.closing) return;
      subscribe().catch((error: unknown) =>
        this.log(`worker ${this.id}: could not subscribe again: ${describe(error)}`),
      );
    });
    await this.beat();
    this.heartbeat = setInterval(() => void this.beat().catch(() => {}), this.options.heartbeatMs ?? 1000);
    this.loopDone = this.loop();
  }

  private info(): WorkerInfo {
    return {
      id: this.id,
      host: hostname(),
      pid: process.pid,
      provider: this.options.settings.executionProvider,
      models: this.held,
      running: this.running ? { callId: this.running.callId, task: this.running.task } : undefined,
      ramTotal: totalmem(),
      ramFree: freemem(),
      startedAt: this.startedAt,
    };
  }

  private async beat(): Promise<void> {
    await writeWorkerInfo(this.client, this.info(), 3 * (this.options.heartbeatMs ?? 1000));
    if (this.held.length > 0) await this.client.sadd(keys.modelQueues, ...this.held.map(modelQueueName));
  }

  private onMessage(channel: string, message: string): void {
    if (channel === channels.wake) {
      this.wake?.();
    } else if (channel === channels.cancel) {
      if (this.running?.callId === message) this.running.abort.abort();
    } else if (channel === channels.control) {
      let control: ControlMessage;
      try {
        control = JSON.parse(message) as ControlMessage;
      } catch {
        return;
      }
      if (control.type === 'unload') void this.unload(control);
    }
  }

  private async unload(control: ControlMessage): Promise<void> {
    let frame: FrontFrame;
    try {
      const { hooks } = await this.runtime.call('runtime.unloadModels', {});
      this.held = [];
      frame = { type: 'unloaded', requestId: control.requestId, worker: this.id, hooks };
    } catch (error) {
      frame = {
        type: 'unloaded',
        requestId: control.requestId,
        worker: this.id,
        hooks: 0,
        error: describe(error),
      };
    }
    await this.client.publish(channels.events(control.frontId), pack(frame)).catch(() => {});
    await this.beat().catch(() => {});
  }

  private forwardLog(message: string): void {
    this.log(message);
    const run = this.running;
    if (!run) return;
    const frame: FrontFrame = { type: 'log', callId: run.callId, message };
    void this.client.publish(channels.events(run.frontId), pack(frame)).catch(() => {});
  }

  private bullWorker(name: string): BullWorker {
    let worker = this.bull.get(name);
    if (!worker) {
      worker = new BullWorker(name, null, {
        connection: this.bullConnection,
        autorun: false,
        lockDuration: this.options.lockDurationMs ?? 30_000,
        stalledInterval: this.options.stalledIntervalMs ?? 30_000,
        maxStalledCount: this.options.maxStalledCount ?? 2,
      });
      worker.on('error', () => {}); // connection trouble is logged once by the command connection
      void worker.startStalledCheckTimer().catch(() => {});
      this.bull.set(name, worker);
    }
    return worker;
  }

  /** Queue names in the order this worker takes jobs from them (see the file comment). */
  private async queueOrder(): Promise<string[]> {
    const own = this.held.map(modelQueueName);
    const known = await this.client.smembers(keys.modelQueues);
    const others = known.filter((q) => !own.includes(q));
    let steal: string[] = [];
    if (others.length > 0) {
      const workers = (await readLiveWorkers(this.client)).filter((w) => w.id !== this.id);
      steal = others.filter((q) => {
        const fp = fingerprintOfQueue(q);
        return !workers.some((w) => !w.running && fp !== undefined && w.models.includes(fp));
      });
    }
    // Queues only checked for stalled jobs (their holders are idle and will take the work).
    for (const q of others) this.bullWorker(q);
    return [...own, GENERAL_QUEUE, ...steal];
  }

  private async nextJob(): Promise<{ job: Job; token: string } | undefined> {
    for (const name of await this.queueOrder()) {
      const token = `${this.id}:${this.tokenCount++}`;
      const job = await this.bullWorker(name).getNextJob(token, { block: false });
      if (job) return { job, token };
    }
    return undefined;
  }

  private async loop(): Promise<void> {
    while (!this.closing) {
      let next: { job: Job; token: string } | undefined;
      try {
        next = await this.nextJob();
        this.fetchErrorLogged = false;
      } catch (error) {
        if (!this.fetchErrorLogged) this.log(`worker ${this.id}: cannot fetch jobs: ${describe(error)}`);
        this.fetchErrorLogged = true;
      }
      if (next) await this.process(next.job, next.token);
      else await this.idle();
    }
  }

  private idle(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, this.options.pollMs ?? 1000);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = () => {
        this.wake = undefined;
        done();
      };
    });
  }

  private publish(frontId: string, frame: FrontFrame): void {
    void this.client.publish(channels.events(frontId), pack(frame)).catch(() => {});
  }

  private async process(job: Job, token: string): Promise<void> {
    const data = job.data as QueueJobData;
    const { callId, frontId } = data;
    const task = data.task as TaskName;
    const abort = new AbortController();
    this.running = { callId, task, frontId, abort };
    void this.beat().catch(() => {});
    const lockMs = this.options.lockDurationMs ?? 30_000;
    // A lock we could not renew (this worker stalled, or Redis lost the job) means the job is, or will
    // be, another worker's: stop here and send nothing, so it runs to completion once.
    let lockLost = false;
    const renew = setInterval(
      () => {
        job.extendLock(token, lockMs).then(
          (ok) => {
            if (ok || lockLost) return;
            lockLost = true;
            this.log(
              `worker ${this.id}: lost the lock of runtime task '${task}' (${callId}); leaving it to another worker`,
            );
            abort.abort();
          },
          () => {},
        );
      },
      Math.max(100, Math.floor(lockMs / 3)),
    );
    try {
      const stored = await this.client.getBuffer(keys.outcome(callId));
      if (stored) {
        // It ran to completion before (the worker died before marking the job): send that outcome again.
        await this.client.publish(channels.events(frontId), stored);
      } else if (await this.client.exists(keys.cancelled(callId))) {
        await this.finish(frontId, { type: 'error', callId, error: wireError(new InterruptedError()) });
      } else {
        const attempt = Math.max(1, job.attemptsStarted ?? 1);
        this.publish(frontId, { type: 'started', callId, worker: this.id, attempt });
        const computing = this.run(task, callId, data, abort.signal);
        this.computing = computing;
        const outcome = await computing;
        this.computing = undefined;
        if (lockLost) return;
        // Say "idle, holding this model" before the front hears the outcome: its next task for the
        // model then finds this worker idle, and other workers leave that task to it.
        this.running = undefined;
        await this.beat();
        await this.finish(frontId, outcome);
      }
      await job.moveToCompleted('done', token, false);
    } catch (error) {
      // Redis trouble while finishing: the stored outcome (if it got there) answers a retry.
      this.log(`worker ${this.id}: runtime task '${task}' (${callId}): ${describe(error)}`);
    } finally {
      clearInterval(renew);
      this.running = undefined;
      void this.beat().catch(() => {});
    }
  }

  private async run(
    task: TaskName,
    callId: string,
    data: QueueJobData,
    signal: AbortSignal,
  ): Promise<FrontFrame> {
    try {
      const bytes = await this.client.getBuffer(keys.payload(callId));
      if (!bytes)
        throw new Error(
          `the payload of runtime task '${task}' is gone from Redis (expired, or Redis lost its data)`,
        );
      const wire = unpack<unknown>(bytes);
      let payload: unknown;
      if (task === 'sd.loadCheckpoint') {
        const { path, fingerprint } = wire as { path: string; fingerprint?: string };
        payload = { path: await this.handles.resolveChecked(path, fingerprint) };
      } else {
        payload = await this.handles.fromWire(wire);
        if (task === 'cones.extract' && this.options.stateDir)
          payload = { ...(payload as object), cacheDir: this.options.stateDir };
      }
      const result = await this.runtime.call(task, payload as TaskMap[TaskName]['payload'], {
        signal,
        onProgress: (p: TaskProgress) => this.publish(data.frontId, { type: 'progress', callId, ...p }),
      });
      const fingerprint = data.fingerprint ?? fingerprintIn(result);
      if (fingerprint) this.hold(fingerprint);
      return { type: 'result', callId, result: this.handles.toWire(result) };
    } catch (error) {
      return { type: 'error', callId, error: wireError(error) };
    }
  }

  /**
   * Stores the outcome (a retried job finds it) and sends it after the progress frames, in order; both
   * only when no outcome is stored yet, so a front never gets two.
   */
  private async finish(frontId: string, frame: FrontFrame): Promise<void> {
    const callId = 'callId' in frame ? frame.callId : '';
    await this.client.eval(
      STORE_AND_SEND,
      1,
      keys.outcome(callId),
      pack(frame),
      OUTCOME_TTL_S,
      channels.events(frontId),
    );
  }

  private hold(fingerprint: string): void {
    this.held = [fingerprint, ...this.held.filter((f) => f !== fingerprint)].slice(0, HELD_MODELS);
  }

  /**
   * Stops taking jobs, lets the running task finish and hands its outcome to Redis, leaves the registry
   * and disconnects. Waits for Redis only so long: with Redis gone, commands would wait for it forever.
   */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.wake?.();
    const bounded = (work: Promise<unknown>, ms: number) =>
      Promise.race([work.catch(() => {}), new Promise((resolve) => setTimeout(resolve, ms).unref())]);
    await this.computing?.catch(() => {});
    await bounded(this.loopDone ?? Promise.resolve(), 5000);
    if (this.heartbeat) clearInterval(this.heartbeat);
    await bounded(removeWorkerInfo(this.client, this.id), 2000);
    // Disconnecting fails the commands still waiting for Redis, which ends the job loop.
    this.client.disconnect();
    this.subscriber.disconnect();
    await bounded(Promise.all([...this.bull.values()].map((w) => w.close())), 2000);
    this.bullConnection.disconnect();
    await this.runtime.close();
  }
}
