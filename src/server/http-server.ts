import fastifyMultipart from '@fastify/multipart';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import type { PromptService } from '../engine/service-types.js';
import type { DataDirs } from '../shared/types.js';
import { errorBody, HttpError } from './http-error.js';
import type { ServerLimits } from './options.js';
import type { Redactor } from './redact.js';
import { registerConceptFileRoute } from './routes/concept-file.js';
import { registerFileRoutes } from './routes/files.js';
import { registerHome } from './routes/home.js';
import { registerInfoRoutes } from './routes/info.js';
import { registerJobRoutes } from './routes/jobs.js';
import { registerPromptRoutes } from './routes/prompt.js';
import { registerUserRoutes } from './routes/user.js';
import { registerWebExtension } from './routes/web-extension.js';
import { corsHeaders, presentedToken, type RequestGuard, TOKEN_COOKIE } from './security.js';
import { UserStore } from './user-store.js';

export interface HttpAppOptions {
  service: PromptService;
  dirs: DataDirs;
  limits: ServerLimits;
  authToken?: string;
  /** Admission rule shared with the WebSocket handshakes (origin, Host, token). */
  guard: RequestGuard;
  /** Takes the token out of logged URLs and errors, and of error bodies. */
  redactor: Redactor;
  /** `--enable-cors-header` value. */
  corsOrigin?: string;
  frontEnd?: string;
  /** The built front-end extension's folder (see `StartServerOptions.webExtensionDir`); undefined: none. */
  webExtensionDir?: string;
  logger?: boolean;
  logSubscribers: Set<string>;
  /** Holds a client's WebSocket events while its POST /prompt is answered. */
  holdEvents?: (clientId: string) => () => void;
  /** `/system_stats` devices (see `StartServerOptions.runtimeDevices`). */
  runtimeDevices?: () => Promise<object[]>;
}

/** Maps fastify/multipart error codes to this server's error types. */
function describeFastifyError(error: FastifyError): { status: number; type: string } {
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, type: 'body_too_large' };
    case 'FST_REQ_FILE_TOO_LARGE':
      return { status: 413, type: 'upload_too_large' };
    case 'FST_PARTS_LIMIT':
    case 'FST_FILES_LIMIT':
    case 'FST_FIELDS_LIMIT':
      return { status: 413, type: 'too_many_parts' };
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
      return { status: 400, type: 'not_multipart' };
    default: {
      const status = error.statusCode && error.statusCode >= 400 ? error.statusCode : 500;
      return { status, type: status >= 500 ? 'internal_error' : 'bad_request' };
    }
  }
}

/** The fastify app: security hooks, raw-body JSON parsing, every ComfyUI route, `/`. */
export async function buildHttpApp(options: HttpAppOptions): Promise<FastifyInstance> {
  const { service, dirs, limits, redactor } = options;
  const app = Fastify({
    // Logged requests carry method and URL only (never headers: Authorization, Cookie), the URL and
    // any logged error redacted.
    logger: options.logger
      ? {
          serializers: {
            req: (req: { method: string; url: string }) => ({
              method: req.method,
              url: redactor.url(req.url),
            }),
            err: (error: Error) => ({
              type: error.name,
              message: redactor.text(error.message),
              stack: redactor.text(error.stack ?? ''),
            }),
          },
        }
      : false,
    bodyLimit: limits.maxBodyBytes,
    // close() ends every connection, not only idle ones: a keep-alive socket a client holds with an unread
    // response otherwise kept shutdown waiting until the client let go (seen: a test's close() hanging > 60 s).
    forceCloseConnections: true,
    // Client-chosen ids and file names may be long; find-my-way's default of 100 is too tight.
    routerOptions: { maxParamLength: 2048 },
  });

  app.addHook('onRequest', async (request, reply) => {
    if (options.corsOrigin !== undefined) {
      reply.headers(corsHeaders(options.corsOrigin));
      if (request.method === 'OPTIONS') return reply.code(200).send('');
    }
    const refusal = options.guard(request.headers, request.url);
    if (refusal) return reply.code(refusal.status).send(errorBody(refusal.type, refusal.message));
    // A browser opened with `/?token=…` keeps the token as a cookie so the front end's own requests pass.
    if (options.authToken && request.method === 'GET' && request.url.includes('token=')) {
      const token = presentedToken({}, request.url);
      if (token === options.authToken) {
        reply.header(
          'Set-Cookie',
          `${TOKEN_COOKIE}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/`,
        );
      }
    }
  });

  // aiohttp's request.json() ignores Content-Type and clients depend on it: every body arrives as a
  // Buffer and JSON routes parse it themselves (multipart keeps its own parser).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
  await app.register(fastifyMultipart, { limits: { fileSize: limits.maxUploadBytes } });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof HttpError)
      return reply.code(error.status).send(errorBody(error.type, redactor.text(error.message)));
    const { status, type } = describeFastifyError(error);
    if (status >= 500) request.log.error(error);
    const message = status >= 500 ? 'Internal server error' : redactor.text(error.message);
    return reply.code(status).send(errorBody(type, message));
  });
  app.setNotFoundHandler((request, reply) =>
    reply
      .code(404)
      .send(errorBody('not_found', `No route for ${request.method} ${request.url.split('?')[0]}`)),
  );

  registerPromptRoutes(app, service, options.holdEvents);
  registerInfoRoutes(app, {
    service,
    dirs,
    limits,
    redactor,
    logSubscribers: options.logSubscribers,
    runtimeDevices: options.runtimeDevices,
  });
  registerFileRoutes(app, dirs, limits);
  registerUserRoutes(app, new UserStore(dirs.user));
  registerJobRoutes(app, service);
  registerWebExtension(app, options.webExtensionDir);
  registerConceptFileRoute(app, dirs);
  await registerHome(app, service, options.frontEnd);
  return app;
}
