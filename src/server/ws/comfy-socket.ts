import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import type { EngineEvent, PromptService } from '../../engine/service-types.js';
import type { EventHub, EventSink } from './hub.js';
import {
  binaryFrame,
  decodePreview,
  PREVIEW_IMAGE,
  PREVIEW_IMAGE_WITH_METADATA,
  withMetadata,
  withoutMetadata,
} from './preview-frames.js';

/** A slow reader's backlog beyond which previews are dropped (events are still queued). */
const PREVIEW_BACKLOG_BYTES = 16 * 1024 * 1024;

const jsonCache = new WeakMap<EngineEvent, Buffer>();
const TEXT_FRAME = { binary: false } as const;

/** Serializes (and UTF-8 encodes) a JSON event once however many sockets receive it. */
export function serializedComfyEvent(event: Extract<EngineEvent, { kind: 'json' }>): Buffer {
  let bytes = jsonCache.get(event);
  if (bytes === undefined) {
    bytes = Buffer.from(JSON.stringify({ type: event.type, data: event.data }));
    jsonCache.set(event, bytes);
  }
  return bytes;
}

export interface ComfySocketContext {
  hub: EventHub;
  service: PromptService;
  featureFlags: Record<string, unknown>;
  /** The current ComfyUI socket per client id (a reconnect with the same id replaces it). */
  current: Map<string, EventSink>;
  /** The node each client's prompt is executing now (from the engine's `executing` events). */
  executingNodes: ReadonlyMap<string, string>;
}

function clientIdOf(request: IncomingMessage): string {
  const url = new URL(request.url ?? '/', 'http://localhost');
  const given = url.searchParams.get('clientId');
  // ComfyUI reuses any given id; bound its length so it cannot bloat every routing table entry.
  return given && given.length <= 256 ? given : randomUUID().replace(/-/g, '');
}

/**
 * One ComfyUI `/ws` connection: `status` with `sid` on connect, engine events for this client id and
 * broadcasts, binary previews, and the `feature_flags` exchange on the first client message.
 */
export function acceptComfySocket(ws: WebSocket, request: IncomingMessage, ctx: ComfySocketContext): void {
  const clientId = clientIdOf(request);
  let supportsPreviewMetadata = false;
  let firstMessage = true;

  const sink: EventSink = {
    clientId,
    deliver(event) {
      if (ws.readyState !== ws.OPEN) return;
      if (event.kind === 'json') {
        ws.send(serializedComfyEvent(event), TEXT_FRAME);
        return;
      }
      if (ws.bufferedAmount > PREVIEW_BACKLOG_BYTES) return;
      if (event.eventType === PREVIEW_IMAGE_WITH_METADATA && !supportsPreviewMetadata) {
        const preview = decodePreview(event.eventType, event.payload);
        if (preview) ws.send(withoutMetadata(preview));
        return;
      }
      if (event.eventType === PREVIEW_IMAGE && event.previewMeta && supportsPreviewMetadata) {
        const preview = decodePreview(event.eventType, event.payload);
        if (preview) ws.send(withMetadata(preview, event.previewMeta));
        return;
      }
      ws.send(binaryFrame(event.eventType, event.payload));
    },
  };

  const previous = ctx.current.get(clientId);
  if (previous) ctx.hub.remove(previous);
  ctx.current.set(clientId, sink);
  ctx.hub.add(sink);

  ws.send(
    JSON.stringify({
      type: 'status',
      data: { status: { exec_info: { queue_remaining: ctx.service.queueRemaining() } }, sid: clientId },
    }),
  );

  // A client reconnecting mid-prompt learns which of its nodes is running, as ComfyUI tells it.
  const runningNode = ctx.executingNodes.get(clientId);
  if (runningNode !== undefined) ws.send(JSON.stringify({ type: 'executing', data: { node: runningNode } }));

  ws.on('message', (raw, isBinary) => {
    if (!firstMessage || isBinary) return;
    firstMessage = false;
    let message: { type?: unknown; data?: unknown };
    try {
      message = JSON.parse(raw.toString());
    } catch {
      return;
    }
    if (message?.type !== 'feature_flags' || typeof message.data !== 'object' || message.data === null)
      return;
    supportsPreviewMetadata = (message.data as Record<string, unknown>).supports_preview_metadata === true;
    ws.send(JSON.stringify({ type: 'feature_flags', data: ctx.featureFlags }));
  });

  ws.on('close', () => {
    ctx.hub.remove(sink);
    if (ctx.current.get(clientId) === sink) ctx.current.delete(clientId);
  });
}

/** Follows `executing` events: the node a client's prompt is running, until `executing {node: null}`. */
export function trackExecutingNodes(): {
  nodes: ReadonlyMap<string, string>;
  observe(event: EngineEvent): void;
} {
  const nodes = new Map<string, string>();
  return {
    nodes,
    observe(event) {
      if (event.kind !== 'json' || event.type !== 'executing' || event.clientId === null) return;
      const node = event.data.node;
      if (typeof node === 'string') nodes.set(event.clientId, node);
      else nodes.delete(event.clientId);
    },
  };
}
