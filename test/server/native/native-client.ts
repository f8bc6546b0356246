import { Packr } from 'msgpackr';
import WebSocket from 'ws';

const packr = new Packr({ useRecords: false, mapsAsObjects: true });

export type Frame = { type: string; id?: string | number; data: any };

/**
 * A minimal native-protocol client for tests: speaks JSON (bytes as {"$bytes": base64}) or msgpack,
 * matches replies by id, and records events.
 */
export class NativeClient {
  readonly frames: Frame[] = [];
  private nextId = 1;
  private readonly pending = new Map<string | number, (frame: Frame) => void>();
  private waiters: Array<() => void> = [];

  private constructor(
    readonly ws: WebSocket,
    public encoding: 'json' | 'msgpack',
  ) {
    ws.on('message', (raw, isBinary) => {
      const frame = (isBinary ? packr.unpack(raw as Buffer) : JSON.parse(raw.toString(), revive)) as Frame;
      this.frames.push(frame);
      if (frame.id !== undefined && this.pending.has(frame.id)) {
        this.pending.get(frame.id)!(frame);
        this.pending.delete(frame.id);
      }
      for (const w of this.waiters) w();
    });
  }

  /** `protocol: null` connects without a subprotocol (JSON until a hello switches). */
  static async open(
    url: string,
    encoding: 'json' | 'msgpack',
    protocol: string | null = `cones.v1.${encoding}`,
  ) {
    const ws = new WebSocket(url, protocol ? [protocol] : undefined);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return new NativeClient(ws, encoding);
  }

  sendRaw(frame: unknown, encoding = this.encoding): void {
    this.ws.send(encoding === 'msgpack' ? packr.pack(frame) : JSON.stringify(frame, replaceBytes));
  }

  request(type: string, data?: unknown): Promise<Frame> {
    const id = this.nextId++;
    const reply = new Promise<Frame>((resolve) => this.pending.set(id, resolve));
    this.sendRaw({ type, id, ...(data !== undefined && { data }) });
    return reply;
  }

  async next(predicate: (f: Frame) => boolean, timeoutMs = 20_000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.frames.find(predicate);
      if (found) return found;
      if (Date.now() > deadline)
        throw new Error(`timed out; got ${JSON.stringify(this.frames.map((f) => f.type))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 50);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
      this.waiters = [];
    }
  }

  close(): void {
    this.ws.close();
  }
}

function revive(_key: string, value: unknown): unknown {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record);
    if (keys.length === 1 && keys[0] === '$bytes' && typeof record.$bytes === 'string') {
      return new Uint8Array(Buffer.from(record.$bytes, 'base64'));
    }
  }
  return value;
}

function replaceBytes(this: Record<string, unknown>, key: string, value: unknown): unknown {
  const original = this[key];
  if (original instanceof Uint8Array) return { $bytes: Buffer.from(original).toString('base64') };
  return value;
}
