/**
 * What travels through Redis in distributed mode (`serve --queue` / `worker --queue`): key and
 * channel names, the frames a worker sends back to the front that called, and their binary encoding.
 * Payloads, results and previews are msgpack (typed arrays stay typed arrays, preview JPEG bytes stay
 * bytes), never JSON with base64. BullMQ's own job record holds only the small JSON `QueueJobData`.
 */
import { Packr } from 'msgpackr';
import type { TaskMetrics, TaskPreview } from '../../shared/tasks.js';

// Both ends are this program: structured clone keeps Maps, Sets and typed arrays as they were, and
// msgpackr's records (each message carries its own record definitions) tell a Map from an object.
const packr = new Packr({ moreTypes: true, structuredClone: true });

export function pack(value: unknown): Buffer {
  return packr.pack(value);
}

export function unpack<T>(bytes: Buffer): T {
  return packr.unpack(bytes) as T;
}

/** A Redis URL for logs and messages: any user name and password in it replaced by `***`. */
export function displayUrl(url: string): string {
  return url.replace(/^(rediss?:\/\/)[^@/]*@/, '$1***@');
}

/** BullMQ queue names: one general queue, and one per model fingerprint (see queue-worker.ts). */
export const GENERAL_QUEUE = 'cones-tasks';
const MODEL_QUEUE_PREFIX = 'cones-model-';

export function modelQueueName(fingerprint: string): string {
  return `${MODEL_QUEUE_PREFIX}${fingerprint}`;
}

export function fingerprintOfQueue(name: string): string | undefined {
  return name.startsWith(MODEL_QUEUE_PREFIX) ? name.slice(MODEL_QUEUE_PREFIX.length) : undefined;
}

/** Redis keys and pub/sub channels outside BullMQ's own. */
export const keys = {
  /** Binary payload of a call (kept until the front settles the call, so a retry finds it). */
  payload: (callId: string) => `cones:payload:${callId}`,
  /** The final frame (result or error) of a call: a retried job finds it and does not run again. */
  outcome: (callId: string) => `cones:outcome:${callId}`,
  /** Set when the front aborted a call; a worker taking the job later skips it. */
  cancelled: (callId: string) => `cones:cancelled:${callId}`,
  /** Model queue names ever used (workers scan them for work nobody else takes). */
  modelQueues: 'cones:model-queues',
  /** Ids of workers that announced themselves; each one's `worker(id)` key expires when it stops beating. */
  workerIds: 'cones:worker-ids',
  worker: (id: string) => `cones:worker:${id}`,
} as const;

export const channels = {
  /** Frames for one front (`frontId`): progress, logs, results, errors, unload answers. */
  events: (frontId: string) => `cones:events:${frontId}`,
  /** A call id whose task must stop wherever it runs (`/interrupt`). */
  cancel: 'cones:cancel',
  /** "A job was added": idle workers look at the queues now instead of at their next poll. */
  wake: 'cones:wake',
  /** Broadcasts to every worker (`/free` with unload_models). */
  control: 'cones:control',
} as const;

/** BullMQ job data (JSON in Redis); the payload itself lies under `keys.payload(callId)`. */
export interface QueueJobData {
  callId: string;
  task: string;
  frontId: string;
  /** Fingerprint of the model the task uses, when it names one (routing, worker preference). */
  fingerprint?: string;
}

export interface WireError {
  name: string;
  message: string;
  stack?: string;
  interrupted: boolean;
}

/** Frames a worker publishes on `channels.events(frontId)`. */
export type FrontFrame =
  | { type: 'started'; callId: string; worker: string; attempt: number }
  | {
      type: 'progress';
      callId: string;
      value: number;
      max: number;
      preview?: TaskPreview;
      metrics?: TaskMetrics;
    }
  | { type: 'log'; callId: string; message: string }
  | { type: 'result'; callId: string; result: unknown }
  | { type: 'error'; callId: string; error: WireError }
  | { type: 'unloaded'; requestId: string; worker: string; hooks: number; error?: string };

export type ControlMessage = { type: 'unload'; frontId: string; requestId: string };

/** What each worker says about itself every heartbeat (`keys.worker(id)`, JSON, expires). */
export interface WorkerInfo {
  id: string;
  host: string;
  pid: number;
  /** The execution provider setting (auto, cpu, cuda). */
  provider: string;
  /** Fingerprints of the models it holds loaded, most recently used first. */
  models: string[];
  /** The call it runs now, if any. */
  running?: { callId: string; task: string };
  ramTotal: number;
  ramFree: number;
  startedAt: number;
}
