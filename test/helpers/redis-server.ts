/**
 * A private, real `redis-server` (Debian's package) for the distributed tests and the queue benchmark:
 * each call starts its own on a free loopback port with a temporary data folder, so tests never touch
 * a system instance and never share state. No Redis client library is needed: readiness and the small
 * commands tests send go through a raw RESP exchange on a TCP socket.
 *
 *   const redis = await startRedisServer({ persistence: true });
 *   redis.url;          // redis://127.0.0.1:PORT
 *   await redis.restart();   // same port, same data (with persistence on)
 *   await redis.stop();
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants, rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { describe } from 'vitest';

const HOST = '127.0.0.1';
const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 10_000;

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The `redis-server` binary to run: `$CONES_REDIS_SERVER` when set, else the first one on PATH, in
 * /usr/bin, /usr/sbin or /usr/local/bin; undefined when there is none.
 */
export function redisServerPath(): string | undefined {
  const override = process.env.CONES_REDIS_SERVER;
  if (override) return isExecutable(override) ? override : undefined;
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/bin', '/usr/sbin', '/usr/local/bin'];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = join(dir, 'redis-server');
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** Why the distributed tests cannot run here, or undefined when they can. */
export const redisSkipReason: string | undefined = redisServerPath()
  ? undefined
  : "distributed tests skipped: redis-server not found (install Debian's redis-server package; .ci/run does)";

/**
 * `describe` for suites that need a real redis-server: skipped, with `redisSkipReason` printed once per
 * suite, when the binary is missing.
 */
export function describeWithRedis(name: string, fn: () => void): void {
  if (redisSkipReason) console.warn(`${name}: ${redisSkipReason}`);
  describe.skipIf(!!redisSkipReason)(name, fn);
}

export interface RedisServerOptions {
  /**
   * Keep data across restart(): append-only file, fsynced on every write, so even a SIGKILL loses
   * nothing that was acknowledged. Default false (`--save '' --appendonly no`: memory only).
   */
  persistence?: boolean;
  /** Extra command-line arguments appended to the defaults (e.g. ['--maxmemory', '64mb']). */
  args?: string[];
}

export interface RestartOptions {
  /** How to stop it: SIGTERM (clean shutdown, the default) or SIGKILL (a crash). */
  signal?: 'SIGTERM' | 'SIGKILL';
  /** How long it stays down before starting again (default 0), so clients notice the outage. */
  downMs?: number;
}

export interface RedisServer {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** Its data folder (removed by stop()). */
  readonly dir: string;
  /** The process id of the running server (changes on restart). */
  readonly pid: number;
  /** Sends one command and returns the reply (see `redisCommand`). */
  command(...args: string[]): Promise<RedisReply>;
  /** Stops it (SIGTERM, SIGKILL after 10 s) and removes its data folder; safe to call twice. */
  stop(): Promise<void>;
  /** Stops it and starts it again on the same port with the same data folder. */
  restart(options?: RestartOptions): Promise<void>;
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

/** A test process that dies without calling stop() must not leave servers behind. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of running) child.kill('SIGKILL');
  });
}

/** A port that was free a moment ago on the loopback interface. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export type RedisReply = string | number | null | RedisReply[] | Error;

/** Parses one RESP reply from `buf` at `at`; undefined when the buffer does not hold all of it yet. */
function parseReply(buf: Buffer, at: number): { value: RedisReply; end: number } | undefined {
  const lineEnd = buf.indexOf('\r\n', at);
  if (lineEnd < 0) return undefined;
  const kind = String.fromCharCode(buf[at]);
  const line = buf.toString('utf8', at + 1, lineEnd);
  const next = lineEnd + 2;
  switch (kind) {
    case '+':
      return { value: line, end: next };
    case '-':
      return { value: new Error(line), end: next };
    case ':':
      return { value: Number(line), end: next };
    case '$': {
      const length = Number(line);
      if (length < 0) return { value: null, end: next };
      if (buf.length < next + length + 2) return undefined;
      return { value: buf.toString('utf8', next, next + length), end: next + length + 2 };
    }
    case '*': {
      const count = Number(line);
      if (count < 0) return { value: null, end: next };
      const items: RedisReply[] = [];
      let pos = next;
      for (let i = 0; i < count; i++) {
        const item = parseReply(buf, pos);
        if (!item) return undefined;
        items.push(item.value);
        pos = item.end;
      }
      return { value: items, end: pos };
    }
    default:
      throw new Error(`unexpected RESP reply type ${JSON.stringify(kind)}`);
  }
}

function encodeCommand(args: string[]): string {
  return `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
}

/**
 * Sends one command to the Redis at HOST:port over a fresh connection and resolves with its reply
 * (an error reply resolves as an Error value); rejects when the connection fails or times out.
 */
export function redisCommand(port: number, args: string[], timeoutMs = 2000): Promise<RedisReply> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: HOST, port });
    let buf = Buffer.alloc(0);
    const finish = (error: Error | undefined, value?: RedisReply) => {
      socket.destroy();
      if (error) reject(error);
      else resolve(value as RedisReply);
    };
    socket.setTimeout(timeoutMs, () =>
      finish(new Error(`redis at ${HOST}:${port}: no reply in ${timeoutMs} ms`)),
    );
    socket.once('error', (e) => finish(e));
    socket.once('connect', () => socket.write(encodeCommand(args)));
    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      try {
        const reply = parseReply(buf, 0);
        if (reply) finish(undefined, reply.value);
      } catch (e) {
        finish(e as Error);
      }
    });
  });
}

async function waitForPong(port: number, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  let lastError = '';
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(
        `redis-server exited (${child.exitCode ?? child.signalCode}) on port ${port}:\n${log()}`,
      );
    try {
      const reply = await redisCommand(port, ['PING'], 1000);
      if (reply === 'PONG') return;
      // e.g. "-LOADING Redis is loading the dataset in memory" right after a restart
      lastError = reply instanceof Error ? reply.message : String(reply);
    } catch (e) {
      lastError = (e as Error).message;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(
    `redis-server on port ${port} did not answer PING in ${START_TIMEOUT_MS} ms (${lastError}):\n${log()}`,
  );
}

function waitForExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

async function stopProcess(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  const exited = waitForExit(child);
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
  running.delete(child);
}

function serverArgs(port: number, dir: string, options: RedisServerOptions): string[] {
  const persistence = options.persistence
    ? ['--appendonly', 'yes', '--appendfsync', 'always']
    : ['--appendonly', 'no'];
  return [
    '--port',
    String(port),
    '--bind',
    HOST,
    '--save',
    '',
    ...persistence,
    '--dir',
    dir,
    ...(options.args ?? []),
  ];
}

/** Spawns redis-server on `port` and waits until it answers PING. */
async function launch(
  binary: string,
  port: number,
  dir: string,
  options: RedisServerOptions,
): Promise<ChildProcess> {
  installExitHook();
  const child = spawn(binary, serverArgs(port, dir, options), { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let output = '';
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-8000);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  child.once('exit', () => running.delete(child));
  const spawnError = new Promise<never>((_, reject) => child.once('error', reject));
  try {
    await Promise.race([waitForPong(port, child, () => output), spawnError]);
  } catch (e) {
    await stopProcess(child, 'SIGKILL');
    throw e;
  }
  return child;
}

/**
 * Starts a private redis-server on a free loopback port; resolves once it answers PING. Throws
 * `redisSkipReason` when the binary is missing (guard suites with `describeWithRedis`).
 */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const binary = redisServerPath();
  if (!binary) throw new Error(redisSkipReason);
  const dir = await mkdtemp(join(tmpdir(), 'cones-redis-'));
  let port = 0;
  let child: ChildProcess | undefined;
  // Another process can take the free port between freePort() and redis binding it: try a few ports.
  for (let attempt = 0; !child; attempt++) {
    port = await freePort();
    try {
      child = await launch(binary, port, dir, options);
    } catch (e) {
      if (attempt >= 4 || !/Address already in use/i.test((e as Error).message)) {
        rmSync(dir, { recursive: true, force: true });
        throw e;
      }
    }
  }
  let current: ChildProcess | undefined = child;
  let stopped = false;

  return {
    url: `redis://${HOST}:${port}`,
    host: HOST,
    port,
    dir,
    get pid() {
      return current?.pid ?? -1;
    },
    command: (...args: string[]) => redisCommand(port, args),
    async stop() {
      if (stopped) return;
      stopped = true;
      if (current) await stopProcess(current, 'SIGTERM');
      current = undefined;
      rmSync(dir, { recursive: true, force: true });
    },
    async restart(restartOptions: RestartOptions = {}) {
      if (stopped) throw new Error('redis-server was stopped; start a new one');
      if (current) await stopProcess(current, restartOptions.signal ?? 'SIGTERM');
      current = undefined;
      if (restartOptions.downMs) await new Promise((r) => setTimeout(r, restartOptions.downMs));
      current = await launch(binary, port, dir, options);
    },
  };
}
