import { randomUUID } from 'node:crypto';
import type { WebSocket } from 'ws';
import { errorOf, loggedError, withoutAbsolutePaths } from '../../engine/public-error.js';
import type { ApiPrompt, EngineEvent, PromptService } from '../../engine/service-types.js';
import type { DataDirs } from '../../shared/types.js';
import { version } from '../../shared/version.js';
import { locateFile, mimeOf, saveUpload } from '../file-store.js';
import { HttpError } from '../http-error.js';
import { decodeToTensor } from '../image-ops.js';
import type { EventHub, EventSink } from '../ws/hub.js';
import { decodePreview } from '../ws/preview-frames.js';
import { decodeFrame, type Encoding, encodeFrame, FrameDecodeError } from './codec.js';
import type { ErrorData, GetOutputResponse, HelloResponse, RequestData, RequestType } from './schema.js';
import type { NativeValidator } from './validator.js';

/** Requests one connection may have in flight; more get `request_failed` / `too_many_pending_requests`. */
const MAX_PENDING = 64;
const PREVIEW_BACKLOG_BYTES = 16 * 1024 * 1024;

export interface NativeContext {
  hub: EventHub;
  service: PromptService;
  dirs: DataDirs;
  validator: NativeValidator;
  featureFlags: Record<string, unknown>;
  /** Same limit as HTTP uploads (the frame limit leaves headroom for the envelope). */
  maxUploadBytes: number;
}

type Handler<K extends RequestType> = (data: RequestData[K]) => Promise<unknown>;

const encodedCache = new WeakMap<EngineEvent, Partial<Record<Encoding, Buffer | string>>>();

/**
 * One native-protocol connection: validates every inbound frame against `schemas/protocol`, answers
 * requests by id, and forwards ComfyUI events (own prompts + broadcasts, or as `subscribe` chose).
 */
export class NativeSession implements EventSink {
  clientId: string;
  allPrompts = false;
  private eventFilter: Set<string> | null = null;
  private pending = 0;

  constructor(
    private readonly ws: WebSocket,
    private encoding: Encoding,
    private readonly ctx: NativeContext,
  ) {
    this.clientId = `native-${randomUUID()}`;
    ctx.hub.add(this);
    ws.on('message', (raw, isBinary) => this.onFrame(raw as Buffer, isBinary));
    ws.on('close', () => ctx.hub.remove(this));
  }

  deliver(event: EngineEvent): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    if (event.kind === 'json') {
      if (this.eventFilter && !this.eventFilter.has(event.type)) return;
      this.ws.send(this.encodeEvent(event, () => ({ type: event.type, data: event.data })));
      return;
    }
    if (this.eventFilter && !this.eventFilter.has('preview')) return;
    if (this.ws.bufferedAmount > PREVIEW_BACKLOG_BYTES) return;
    const preview = decodePreview(event.eventType, event.payload);
    if (!preview) return;
    this.ws.send(
      this.encodeEvent(event, () => ({
        type: 'preview',
        data: {
          event_type: event.eventType,
          format: preview.format,
          image: preview.image,
          ...((preview.metadata ?? event.previewMeta) && { metadata: preview.metadata ?? event.previewMeta }),
        },
      })),
    );
  }

  private encodeEvent(event: EngineEvent, build: () => unknown): Buffer | string {
    const entry = encodedCache.get(event) ?? {};
    encodedCache.set(event, entry);
    const encoded = entry[this.encoding] ?? encodeFrame(build(), this.encoding);
    entry[this.encoding] = encoded;
    return encoded;
  }

  private send(message: unknown): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(encodeFrame(message, this.encoding));
  }

  private sendError(id: string | number | undefined, error: ErrorData): void {
    this.send({ type: 'error', ...(id !== undefined && { id }), data: error });
  }

  private onFrame(raw: Buffer, isBinary: boolean): void {
    let frame: unknown;
    try {
      frame = decodeFrame(raw, isBinary);
    } catch (error) {
      const failure =
        error instanceof FrameDecodeError ? error : new FrameDecodeError(`could not be decoded: ${error}`);
      this.sendError(undefined, {
        code: 'invalid_frame',
        message: failure.message,
        pointer: failure.pointer,
        reason: failure.reason,
      });
      return;
    }
    let checked: ReturnType<NativeValidator['validate']>;
    try {
      checked = this.ctx.validator.validate(frame);
    } catch (error) {
      this.sendError(undefined, {
        code: 'invalid_message',
        message: 'Frame failed validation',
        pointer: '',
        reason: String(error),
      });
      return;
    }
    if (!checked.ok) {
      const { pointer, reason } = checked.failure;
      this.sendError(checked.id, {
        code: 'invalid_message',
        message: `${pointer || 'frame'} ${reason}`,
        pointer,
        reason,
      });
      return;
    }
    const { type, id, data } = checked.message;
    if (this.pending >= MAX_PENDING) {
      this.sendError(id, {
        code: 'request_failed',
        message: 'Too many requests in flight',
        pointer: '',
        reason: 'too_many_pending_requests',
      });
      return;
    }
    this.pending++;
    const handler = this.handlers[type] as Handler<typeof type>;
    handler(data as never)
      .then(
        (result) => this.send({ type, ...(id !== undefined && { id }), data: result ?? {} }),
        (error: unknown) => this.sendError(id, toErrorData(error)),
      )
      .finally(() => {
        this.pending--;
      });
  }

  private readonly handlers: { [K in RequestType]: Handler<K> } = {
    hello: async (data) => {
      if (data.encoding) this.encoding = data.encoding;
      if (data.client_id && data.client_id !== this.clientId) {
        this.ctx.hub.remove(this);
        this.clientId = data.client_id;
        this.ctx.hub.add(this);
      }
      const reply: HelloResponse = {
        protocol: 'cones.v1',
        encoding: this.encoding,
        client_id: this.clientId,
        server: `cones-nodes ${version}`,
        feature_flags: this.ctx.featureFlags,
      };
      return reply;
    },
    object_info: async (data) => {
      const all = await this.ctx.service.objectInfo();
      if (data.class === undefined) return all;
      return Object.hasOwn(all, data.class) ? { [data.class]: all[data.class] } : {};
    },
    queue_prompt: async (data) => {
      // The reply (with the prompt id) goes out before any event of the prompt: events wait until the
      // tick after the reply is sent.
      const release = this.ctx.hub.hold(this.clientId);
      const result = await this.ctx.service
        .queuePrompt({ ...data, prompt: data.prompt as ApiPrompt, client_id: this.clientId })
        .finally(() => setImmediate(release));
      if (result.ok)
        return { prompt_id: result.prompt_id, number: result.number, node_errors: result.node_errors };
      throw new PromptRejected(result.error.message, result.error.type, {
        error: result.error,
        node_errors: result.node_errors,
      });
    },
    interrupt: async (data) => {
      this.ctx.service.interrupt(data.prompt_id);
      return {};
    },
    queue: async () => this.ctx.service.getQueue(),
    history: async (data) =>
      data.prompt_id !== undefined
        ? this.ctx.service.getHistoryItem(data.prompt_id)
        : this.ctx.service.getHistory({
            ...(data.max_items !== undefined && { maxItems: data.max_items }),
            ...(data.offset !== undefined && { offset: data.offset }),
          }),
    upload: async (data) => {
      if (data.bytes.byteLength > this.ctx.maxUploadBytes) {
        throw new HttpError(
          413,
          'upload_too_large',
          `Upload exceeds the ${this.ctx.maxUploadBytes}-byte limit`,
        );
      }
      return saveUpload(this.ctx.dirs, {
        filename: data.filename,
        bytes: data.bytes,
        type: data.type,
        subfolder: data.subfolder,
        overwrite: data.overwrite,
      });
    },
    get_output: async (data) => {
      const file = await locateFile(this.ctx.dirs, {
        filename: data.filename,
        subfolder: data.subfolder,
        type: data.type,
      });
      const { readFile } = await import('node:fs/promises');
      const bytes = await readFile(file.path);
      const reply: GetOutputResponse = {
        filename: file.name,
        subfolder: file.subfolder,
        type: file.type,
        mime: mimeOf(file.name),
      };
      if (data.as === 'tensor') {
        const tensor = await decodeToTensor(bytes);
        reply.tensor = {
          dtype: 'float32',
          shape: tensor.shape,
          data: new Uint8Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength),
        };
      } else {
        reply.bytes = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      }
      return reply;
    },
    subscribe: async (data) => {
      if (data.all_prompts !== undefined) {
        this.allPrompts = data.all_prompts;
        this.ctx.hub.update(this);
      }
      if (data.events !== undefined) this.eventFilter = new Set(data.events);
      return { all_prompts: this.allPrompts, events: this.eventFilter ? [...this.eventFilter] : null };
    },
  };
}

class PromptRejected extends Error {
  constructor(
    message: string,
    readonly reason: string,
    readonly details: Record<string, unknown>,
  ) {
    super(message);
  }
}

function toErrorData(error: unknown): ErrorData {
  if (error instanceof PromptRejected) {
    return {
      code: 'request_failed',
      message: error.message,
      pointer: '/data/prompt',
      reason: error.reason,
      details: error.details,
    };
  }
  if (error instanceof HttpError) {
    const code = error.status === 404 ? 'not_found' : error.status === 403 ? 'forbidden' : 'request_failed';
    return { code, message: error.message, pointer: '/data', reason: error.type };
  }
  console.error(`cones-nodes: native request failed: ${loggedError(error)}`);
  return {
    code: 'request_failed',
    message: withoutAbsolutePaths(errorOf(error).message),
    pointer: '',
    reason: 'internal_error',
  };
}
