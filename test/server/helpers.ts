import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import WebSocket from 'ws';
import { createTestNodes, type TestNodes } from '../../src/engine/testing-nodes.js';
import type { RunningServer, StartServerFullOptions } from '../../src/server/index.js';
import { startServer } from '../../src/server/index.js';

export interface TestServer extends RunningServer {
  dataDir: string;
  testNodes: TestNodes;
  /** Closes the server and removes its data folder. */
  dispose(): Promise<void>;
}

/** A real server on 127.0.0.1 (free port) over a fresh data folder, with the engine's test nodes. */
export async function startTestServer(options: StartServerFullOptions = {}): Promise<TestServer> {
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'cones-server-')));
  const testNodes = createTestNodes();
  const server = await startServer({
    port: 0,
    demoCheckpoint: false, // tests that list checkpoints still get it, written on first listing
    webExtensionDir: null, // the same answers whether or not dist/web was built
    ...options,
    dataDir,
    serviceOptions: { extraNodes: testNodes.nodes, log: () => {}, ...options.serviceOptions },
  });
  return {
    ...server,
    dataDir,
    testNodes,
    async dispose() {
      await server.close();
      if (!options.dataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** A real PNG: a horizontal gradient (RGB, or RGBA with a vertical alpha ramp). */
export async function gradientPng(width: number, height: number, alpha = false): Promise<Buffer> {
  const channels = alpha ? 4 : 3;
  const data = Buffer.alloc(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * channels;
      data[i] = Math.round((255 * x) / Math.max(1, width - 1));
      data[i + 1] = Math.round((255 * y) / Math.max(1, height - 1));
      data[i + 2] = 128;
      if (alpha) data[i + 3] = Math.round((255 * y) / Math.max(1, height - 1));
    }
  }
  return sharp(data, { raw: { width, height, channels } }).png().toBuffer();
}

/** A WebSocket that records every message; `next(pred)` waits for the first matching one (past or future). */
export class RecordingSocket {
  readonly messages: Array<{ type: string; data: any } | { binary: Buffer }> = [];
  private waiters: Array<() => void> = [];

  constructor(readonly ws: WebSocket) {
    ws.on('message', (raw, isBinary) => {
      if (isBinary) this.messages.push({ binary: raw as Buffer });
      else this.messages.push(JSON.parse(raw.toString()));
      for (const w of this.waiters) w();
    });
  }

  static async open(
    url: string,
    protocols?: string | string[],
    headers?: Record<string, string>,
  ): Promise<RecordingSocket> {
    const ws = new WebSocket(url, protocols, { headers });
    const socket = new RecordingSocket(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return socket;
  }

  json(): Array<{ type: string; data: any }> {
    return this.messages.filter((m): m is { type: string; data: any } => 'type' in m);
  }

  async next(
    predicate: (m: { type: string; data: any }) => boolean,
    timeoutMs = 20_000,
  ): Promise<{ type: string; data: any }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.json().find(predicate);
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out; got ${JSON.stringify(this.json().map((m) => m.type))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
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

export function scalePrompt(image: string, width = 24, height = 16, prefix = 'scaled') {
  return {
    '1': { class_type: 'LoadImage', inputs: { image } },
    '2': {
      class_type: 'ImageScale',
      inputs: { image: ['1', 0], upscale_method: 'bilinear', width, height, crop: 'disabled' },
    },
    '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: prefix } },
  };
}

export function sleepPrompt(ms: number, steps = 50) {
  return {
    '1': { class_type: 'TestConstant', inputs: { value: 7 } },
    '2': { class_type: 'TestSleep', inputs: { value: ['1', 0], ms, steps } },
    '3': { class_type: 'TestOutput', inputs: { value: ['2', 0] } },
  };
}

/** `res.json()` typed for assertions. */
export async function json(res: Response | Promise<Response>): Promise<any> {
  return (await res).json();
}
