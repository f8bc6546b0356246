import type { FastifyInstance } from 'fastify';
import type { PromptService } from '../../engine/service-types.js';
import { comfyRoute, jsonObjectBody, params, query } from '../http-app.js';
import { allJobs, jobDetail, listJobs, parseJobQuery } from '../jobs.js';

/**
 * The jobs API the current front end uses for its queue and history panels. ComfyUI declares these
 * with the `/api` prefix in its doubled table, so they exist at `/api/jobs` and `/api/api/jobs` only.
 */
export function registerJobRoutes(app: FastifyInstance, service: PromptService): void {
  comfyRoute(app, 'GET', '/api/jobs', async (request, reply) => {
    const parsed = parseJobQuery(query(request));
    if (typeof parsed === 'string') return reply.code(400).send({ error: parsed });
    return listJobs(service, parsed);
  });

  comfyRoute(app, 'GET', '/api/jobs/:job_id', async (request, reply) => {
    const record = allJobs(service).find((r) => r.job.id === params(request).job_id);
    if (!record) return reply.code(404).send({ error: 'Job not found' });
    return jobDetail(record);
  });

  const cancel = (id: string): boolean => {
    const queue = service.getQueue();
    if (queue.queue_pending.some((item) => item[1] === id)) {
      service.deleteFromQueue([id]);
      return true;
    }
    if (queue.queue_running.some((item) => item[1] === id)) {
      service.interrupt(id);
      return true;
    }
    return false;
  };

  comfyRoute(app, 'POST', '/api/jobs/:job_id/cancel', async (request) => ({
    cancelled: cancel(params(request).job_id),
  }));

  comfyRoute(app, 'POST', '/api/jobs/cancel', async (request, reply) => {
    const body = jsonObjectBody(request);
    const ids = body.job_ids;
    if (!Array.isArray(ids))
      return reply.code(400).send({ error: 'job_ids must be a list of job ids', invalid_ids: [] });
    const invalid = ids.filter((id) => typeof id !== 'string' || id.length === 0 || id.length > 128);
    if (invalid.length) return reply.code(400).send({ error: 'Invalid job ids', invalid_ids: invalid });
    let cancelled = false;
    for (const id of ids as string[]) cancelled = cancel(id) || cancelled;
    return { cancelled };
  });
}
