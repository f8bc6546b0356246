import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { PromptService } from '../../engine/service-types.js';
import type { DataDirs } from '../../shared/types.js';
import { SUBPROTOCOLS } from '../native/codec.js';
import { NativeSession } from '../native/session.js';
import type { NativeValidator } from '../native/validator.js';
import type { ServerLimits } from '../options.js';
import type { RequestGuard } from '../security.js';
import { acceptComfySocket, trackExecutingNodes } from './comfy-socket.js';
import type { EventHub, EventSink } from './hub.js';

export interface WebSocketOptions {
  hub: EventHub;
  service: PromptService;
  dirs: DataDirs;
  limits: ServerLimits;
  validator: NativeValidator;
  featureFlags: Record<string, unknown>;
  guard: RequestGuard;
}

const COMFY_PATHS = new Set(['/ws', '/api/ws']);
const NATIVE_PATHS = new Set(['/native', '/api/native']);
const PING_INTERVAL_MS = 30_000;

function refuse(socket: Duplex, status: number, reason: string, body: unknown): void {
  const text = JSON.stringify(body);
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
  );
}

/**
 * Takes over HTTP upgrades on the server: `/ws` (ComfyUI) and `/native` (schema'd protocol), after the
 * same origin and token checks as HTTP requests. Returns a closer.
 */
export function attachWebSockets(server: Server, options: WebSocketOptions): () => Promise<void> {
  const comfy = new WebSocketServer({ noServer: true, maxPayload: options.limits.maxComfyFrameBytes });
  const native = new WebSocketServer({
    noServer: true,
    maxPayload: options.limits.maxNativeFrameBytes,
    handleProtocols: (protocols) => {
      for (const p of protocols) if (p in SUBPROTOCOLS) return p;
      return false;
    },
  });
  const current = new Map<string, EventSink>();
  const executing = trackExecutingNodes();
  const stopTracking = options.service.onEvent((event) => executing.observe(event));

  comfy.on('connection', (ws, request: IncomingMessage) =>
    acceptComfySocket(ws, request, {
      hub: options.hub,
      service: options.service,
      featureFlags: options.featureFlags,
      current,
      executingNodes: executing.nodes,
    }),
  );
  native.on('connection', (ws) => {
    new NativeSession(ws, SUBPROTOCOLS[ws.protocol] ?? 'json', {
      hub: options.hub,
      service: options.service,
      dirs: options.dirs,
      validator: options.validator,
      featureFlags: options.featureFlags,
      maxUploadBytes: options.limits.maxUploadBytes,
    });
  });

  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const path = (request.url ?? '/').split('?')[0];
    const target = COMFY_PATHS.has(path) ? comfy : NATIVE_PATHS.has(path) ? native : null;
    if (!target)
      return refuse(socket, 404, 'Not Found', {
        error: { type: 'not_found', message: `No WebSocket at ${path}` },
      });
    const refusal = options.guard(request.headers, request.url ?? '/');
    if (refusal) {
      return refuse(socket, refusal.status, refusal.status === 401 ? 'Unauthorized' : 'Forbidden', {
        error: { type: refusal.type, message: refusal.message },
      });
    }
    target.handleUpgrade(request, socket, head, (ws) => target.emit('connection', ws, request));
  };
  server.on('upgrade', onUpgrade);

  // Dead peers (no pong within an interval) are dropped so their routing entries do not pile up.
  const alive = new WeakMap<object, boolean>();
  for (const wss of [comfy, native]) {
    wss.on('connection', (ws) => {
      alive.set(ws, true);
      ws.on('pong', () => alive.set(ws, true));
      ws.on('error', () => ws.terminate());
    });
  }
  const pinger = setInterval(() => {
    for (const wss of [comfy, native]) {
      for (const ws of wss.clients) {
        if (alive.get(ws) === false) {
          ws.terminate();
          continue;
        }
        alive.set(ws, false);
        ws.ping();
      }
    }
  }, PING_INTERVAL_MS);
  pinger.unref();

  return async () => {
    clearInterval(pinger);
    stopTracking();
    server.off('upgrade', onUpgrade);
    for (const wss of [comfy, native]) {
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    }
  };
}
