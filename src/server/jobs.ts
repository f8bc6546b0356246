import type { HistoryEntry, PromptService, QueueItem } from '../engine/service-types.js';

/** ComfyUI's job states (the `/api/jobs` view over queue + history). */
export const JOB_STATUSES = ['pending', 'in_progress', 'completed', 'failed', 'cancelled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

export interface Job {
  id: string;
  status: JobStatus;
  priority: number;
  create_time: number;
  execution_start_time?: number;
  execution_end_time?: number;
  execution_error?: Record<string, unknown>;
  outputs_count: number;
  previewable_outputs_count: number;
  preview_output?: Record<string, unknown>;
  workflow_id?: string;
}

export interface JobDetail extends Job {
  outputs?: HistoryEntry['outputs'];
  execution_status?: HistoryEntry['status'];
  workflow: { prompt: QueueItem[2]; extra_data: QueueItem[3] };
}

const PREVIEWABLE = ['images', 'video', 'audio', 'gifs', 'animated'];

function workflowId(extra: Record<string, unknown>): string | undefined {
  const info = extra.extra_pnginfo as { workflow?: { id?: unknown } } | undefined;
  return typeof info?.workflow?.id === 'string' ? info.workflow.id : undefined;
}

function fromQueue(item: QueueItem, status: JobStatus): Job {
  const [number, id, , extra] = item;
  const job: Job = {
    id,
    status,
    priority: number,
    create_time: typeof extra.create_time === 'number' ? extra.create_time : 0,
    outputs_count: 0,
    previewable_outputs_count: 0,
  };
  const wf = workflowId(extra);
  if (wf) job.workflow_id = wf;
  return job;
}

function fromHistory(entry: HistoryEntry): Job {
  const messages = new Map(entry.status.messages.map(([type, data]) => [type, data]));
  const interrupted = messages.has('execution_interrupted');
  const status: JobStatus =
    entry.status.status_str === 'success' ? 'completed' : interrupted ? 'cancelled' : 'failed';
  const job = fromQueue(entry.prompt, status);
  const start = messages.get('execution_start')?.timestamp;
  const end = (
    messages.get('execution_success') ??
    messages.get('execution_error') ??
    messages.get('execution_interrupted')
  )?.timestamp;
  if (typeof start === 'number') job.execution_start_time = start;
  if (typeof end === 'number') job.execution_end_time = end;
  const error = messages.get('execution_error');
  if (error) job.execution_error = error;
  for (const [nodeId, output] of Object.entries(entry.outputs)) {
    for (const [kind, items] of Object.entries(output ?? {})) {
      if (!Array.isArray(items)) continue;
      job.outputs_count += items.length;
      if (!PREVIEWABLE.includes(kind)) continue;
      job.previewable_outputs_count += items.length;
      const first = items[0] as Record<string, unknown> | undefined;
      if (!job.preview_output && first && typeof first.filename === 'string') {
        job.preview_output = { ...first, nodeId, mediaType: kind };
      }
    }
  }
  return job;
}

/** Every job the service knows: running, pending, then history. */
export function allJobs(service: PromptService): Array<{ job: Job; entry?: HistoryEntry; item: QueueItem }> {
  const queue = service.getQueue();
  const out: Array<{ job: Job; entry?: HistoryEntry; item: QueueItem }> = [];
  for (const item of queue.queue_running) out.push({ job: fromQueue(item, 'in_progress'), item });
  for (const item of queue.queue_pending) out.push({ job: fromQueue(item, 'pending'), item });
  for (const entry of Object.values(service.getHistory()))
    out.push({ job: fromHistory(entry), entry, item: entry.prompt });
  return out;
}

export function jobDetail(record: { job: Job; entry?: HistoryEntry; item: QueueItem }): JobDetail {
  const detail: JobDetail = {
    ...record.job,
    workflow: { prompt: record.item[2], extra_data: record.item[3] },
  };
  if (record.entry) {
    detail.outputs = record.entry.outputs;
    detail.execution_status = record.entry.status;
  }
  return detail;
}

export interface JobQuery {
  statuses?: JobStatus[];
  workflowId?: string;
  sortBy: 'created_at' | 'execution_duration';
  sortOrder: 'asc' | 'desc';
  limit?: number;
  offset: number;
}

/** Parses `/api/jobs` query parameters; returns an error message for bad ones (answered with 400). */
export function parseJobQuery(q: Record<string, string | undefined>): JobQuery | string {
  const result: JobQuery = { sortBy: 'created_at', sortOrder: 'desc', offset: 0 };
  if (q.status) {
    const statuses = q.status
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const bad = statuses.filter((s) => !(JOB_STATUSES as readonly string[]).includes(s));
    if (bad.length)
      return `Invalid status value(s): ${bad.join(', ')}. Valid values: ${JOB_STATUSES.join(', ')}`;
    result.statuses = statuses as JobStatus[];
  }
  if (q.workflow_id) result.workflowId = q.workflow_id;
  if (q.sort_by !== undefined) {
    if (q.sort_by !== 'created_at' && q.sort_by !== 'execution_duration')
      return 'sort_by must be created_at or execution_duration';
    result.sortBy = q.sort_by;
  }
  if (q.sort_order !== undefined) {
    if (q.sort_order !== 'asc' && q.sort_order !== 'desc') return 'sort_order must be asc or desc';
    result.sortOrder = q.sort_order;
  }
  if (q.limit !== undefined) {
    const limit = Number(q.limit);
    if (!Number.isInteger(limit) || limit <= 0) return 'limit must be a positive integer';
    result.limit = limit;
  }
  if (q.offset !== undefined) {
    const offset = Number(q.offset);
    if (!Number.isInteger(offset) || offset < 0) return 'offset must be a non-negative integer';
    result.offset = offset;
  }
  return result;
}

export function listJobs(service: PromptService, query: JobQuery) {
  let jobs = allJobs(service).map((r) => r.job);
  if (query.statuses) jobs = jobs.filter((j) => query.statuses!.includes(j.status));
  if (query.workflowId) jobs = jobs.filter((j) => j.workflow_id === query.workflowId);
  const key = (j: Job) =>
    query.sortBy === 'created_at'
      ? j.create_time
      : j.execution_start_time !== undefined && j.execution_end_time !== undefined
        ? j.execution_end_time - j.execution_start_time
        : -1;
  const sign = query.sortOrder === 'asc' ? 1 : -1;
  jobs.sort((a, b) => sign * (key(a) - key(b)));
  const total = jobs.length;
  const limit = query.limit ?? Math.max(total - query.offset, 0);
  const page = jobs.slice(query.offset, query.offset + limit);
  return {
    jobs: page,
    pagination: { offset: query.offset, limit, total, has_more: query.offset + page.length < total },
  };
}
