/**
 * Which workers are alive and what they hold. Each worker rewrites its `WorkerInfo` under a key that
 * expires after three missed heartbeats (Redis decides liveness, so machines' clocks need not agree);
 * a set lists the ids so readers need no SCAN.
 */
import type { Redis } from 'ioredis';
import { keys, type WorkerInfo } from './wire.js';

export async function writeWorkerInfo(client: Redis, info: WorkerInfo, ttlMs: number): Promise<void> {
  await client
    .multi()
    .set(keys.worker(info.id), JSON.stringify(info), 'PX', ttlMs)
    .sadd(keys.workerIds, info.id)
    .exec();
}

export async function removeWorkerInfo(client: Redis, id: string): Promise<void> {
  await client.multi().del(keys.worker(id)).srem(keys.workerIds, id).exec();
}

/** The workers whose heartbeat has not expired, in id order; expired ids are dropped from the set. */
export async function readLiveWorkers(client: Redis): Promise<WorkerInfo[]> {
  const ids = (await client.smembers(keys.workerIds)).sort();
  if (ids.length === 0) return [];
  const values = await client.mget(ids.map((id) => keys.worker(id)));
  const live: WorkerInfo[] = [];
  const gone: string[] = [];
  values.forEach((value, i) => {
    if (value === null) gone.push(ids[i]);
    else live.push(JSON.parse(value) as WorkerInfo);
  });
  if (gone.length > 0) await client.srem(keys.workerIds, ...gone);
  return live;
}
