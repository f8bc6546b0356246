import type { FastifyInstance, FastifyReply, FastifyRequest, RouteHandlerMethod } from 'fastify';
import { HttpError } from './http-error.js';

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';

/**
 * Registers a route twice, at `/path` and `/api/path`, as ComfyUI's route table does (the front end
 * calls `/api/...`, the SDKs call bare paths).
 */
export function comfyRoute(
  app: FastifyInstance,
  method: Method,
  path: string,
  handler: RouteHandlerMethod,
): void {
  app.route({ method, url: path, handler });
  app.route({ method, url: `/api${path}`, handler });
}

/**
 * The request body parsed as JSON whatever its Content-Type (aiohttp's `request.json()` ignores it and
 * clients rely on that). Empty body → `undefined`; malformed → 400 `invalid_json`.
 */
export function jsonBody(request: FastifyRequest): unknown {
  const raw = request.body;
  if (raw === undefined || raw === null) return undefined;
  if (!Buffer.isBuffer(raw)) return raw;
  if (raw.length === 0 || raw.toString('utf8').trim() === '') return undefined;
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch (error) {
    throw new HttpError(400, 'invalid_json', `Request body is not valid JSON: ${(error as Error).message}`);
  }
}

/** Like `jsonBody` but an object is required (400 otherwise); an empty body is `{}`. */
export function jsonObjectBody(request: FastifyRequest): Record<string, unknown> {
  const body = jsonBody(request);
  if (body === undefined) return {};
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new HttpError(400, 'invalid_json', 'Request body must be a JSON object');
  }
  return body as Record<string, unknown>;
}

export function rawBody(request: FastifyRequest): Buffer {
  return Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
}

export type Query = Record<string, string | undefined>;

export function query(request: FastifyRequest): Query {
  return request.query as Query;
}

export function params(request: FastifyRequest): Record<string, string> {
  return request.params as Record<string, string>;
}

/** 200 with an empty body, as ComfyUI answers most POSTs. */
export function ok(reply: FastifyReply): FastifyReply {
  return reply.code(200).type('text/plain; charset=utf-8').send('');
}

/** Sends any JSON value (fastify would send a bare string as text and refuse null). */
export function sendJson(reply: FastifyReply, value: unknown): FastifyReply {
  return reply.type('application/json; charset=utf-8').send(JSON.stringify(value));
}
