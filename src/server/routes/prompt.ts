import type { FastifyInstance } from 'fastify';
import type { ApiPrompt, PromptService, QueuePromptRequest } from '../../engine/service-types.js';
import { comfyRoute, jsonObjectBody, ok, params, query } from '../http-app.js';
import { HttpError } from '../http-error.js';

function promptError(type: string, message: string) {
  return { error: { type, message, details: message, extra_info: {} }, node_errors: {} };
}

function optionalInt(value: string | undefined, name: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0)
    throw new HttpError(400, 'invalid_query', `${name} must be a non-negative integer`);
  return n;
}

function stringList(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

/** Holds a client's events while its POST /prompt is answered (see EventHub.hold). */
export type HoldEvents = (clientId: string) => () => void;

/** /prompt, /queue, /history, /interrupt, /free: the execution routes, straight onto the PromptService. */
export function registerPromptRoutes(
  app: FastifyInstance,
  service: PromptService,
  holdEvents?: HoldEvents,
): void {
  comfyRoute(app, 'GET', '/prompt', async () => ({
    exec_info: { queue_remaining: service.queueRemaining() },
  }));

  comfyRoute(app, 'POST', '/prompt', async (request, reply) => {
    const body = jsonObjectBody(request);
    if (!('prompt' in body)) return reply.code(400).send(promptError('no_prompt', 'No prompt provided'));
    const prompt = body.prompt;
    if (typeof prompt !== 'object' || prompt === null || Array.isArray(prompt)) {
      return reply.code(400).send(promptError('invalid_prompt', 'prompt must be an object of nodes'));
    }
    const req: QueuePromptRequest = { prompt: prompt as ApiPrompt };
    if (typeof body.client_id === 'string') req.client_id = body.client_id;
    if (typeof body.extra_data === 'object' && body.extra_data !== null && !Array.isArray(body.extra_data)) {
      req.extra_data = body.extra_data as Record<string, unknown>;
    }
    if (body.front === true) req.front = true;
    if (typeof body.number === 'number' && Number.isFinite(body.number)) req.number = body.number;
    if (body.prompt_id !== undefined) {
      if (typeof body.prompt_id !== 'string')
        return reply.code(400).send(promptError('invalid_prompt_id', 'prompt_id must be a string'));
      req.prompt_id = body.prompt_id;
    }
    if (Array.isArray(body.partial_execution_targets))
      req.partial_execution_targets = stringList(body.partial_execution_targets);
    if (req.client_id !== undefined && holdEvents) {
      const release = holdEvents(req.client_id);
      // Released once the response is written (or the connection dies), never left holding.
      reply.raw.once('finish', release);
      reply.raw.once('close', release);
    }
    const result = await service.queuePrompt(req);
    if (result.ok)
      return { prompt_id: result.prompt_id, number: result.number, node_errors: result.node_errors };
    return reply.code(400).send({ error: result.error, node_errors: result.node_errors });
  });

  comfyRoute(app, 'GET', '/queue', async () => service.getQueue());

  comfyRoute(app, 'POST', '/queue', async (request, reply) => {
    const body = jsonObjectBody(request);
    if (body.clear === true) service.clearQueue();
    if (Array.isArray(body.delete)) service.deleteFromQueue(stringList(body.delete));
    return ok(reply);
  });

  comfyRoute(app, 'GET', '/history', async (request) => {
    const q = query(request);
    const maxItems = optionalInt(q.max_items, 'max_items');
    const offset = optionalInt(q.offset, 'offset');
    return service.getHistory({
      ...(maxItems !== undefined && { maxItems }),
      ...(offset !== undefined && { offset }),
    });
  });

  comfyRoute(app, 'GET', '/history/:prompt_id', async (request) =>
    service.getHistoryItem(params(request).prompt_id),
  );

  comfyRoute(app, 'POST', '/history', async (request, reply) => {
    const body = jsonObjectBody(request);
    if (body.clear === true) service.clearHistory();
    if (Array.isArray(body.delete)) service.deleteHistory(stringList(body.delete));
    return ok(reply);
  });

  comfyRoute(app, 'POST', '/interrupt', async (request, reply) => {
    const body = jsonObjectBody(request);
    service.interrupt(typeof body.prompt_id === 'string' ? body.prompt_id : undefined);
    return ok(reply);
  });

  comfyRoute(app, 'POST', '/free', async (request, reply) => {
    const body = jsonObjectBody(request);
    await service.free({
      unload_models: body.unload_models === true,
      free_memory: body.free_memory === true,
    });
    return ok(reply);
  });
}
