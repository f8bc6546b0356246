import { existsSync } from 'node:fs';
import { afterEach, expect, it } from 'vitest';
import {
  describeWithRedis,
  freePort,
  type RedisServer,
  redisCommand,
  startRedisServer,
} from './redis-server.js';

describeWithRedis('private redis-server for tests', () => {
  const started: RedisServer[] = [];
  const start = async (...args: Parameters<typeof startRedisServer>) => {
    const server = await startRedisServer(...args);
    started.push(server);
    return server;
  };
  afterEach(async () => {
    await Promise.all(started.splice(0).map((s) => s.stop()));
  });

  it('starts on a loopback port and answers PING and commands', async () => {
    const redis = await start();
    expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`);
    expect(await redisCommand(redis.port, ['PING'])).toBe('PONG');
    expect(await redis.command('SET', 'greeting', 'hello')).toBe('OK');
    expect(await redis.command('GET', 'greeting')).toBe('hello');
    expect(await redis.command('RPUSH', 'list', 'a', 'b')).toBe(2);
    expect(await redis.command('LRANGE', 'list', '0', '-1')).toEqual(['a', 'b']);
    expect(await redis.command('NOSUCHCOMMAND')).toBeInstanceOf(Error);
    // BullMQ needs keys never evicted; the private server must not be configured otherwise
    expect(await redis.command('CONFIG', 'GET', 'maxmemory-policy')).toEqual([
      'maxmemory-policy',
      'noeviction',
    ]);
  });

  it('two servers are independent', async () => {
    const a = await start();
    const b = await start();
    expect(a.port).not.toBe(b.port);
    await a.command('SET', 'k', 'in-a');
    expect(await b.command('GET', 'k')).toBeNull();
  });

  it('restart() with persistence keeps the data and the port, even after SIGKILL', async () => {
    const redis = await start({ persistence: true });
    await redis.command('SET', 'job', 'queued');
    await redis.command('RPUSH', 'waiting', '1', '2', '3');
    const firstPid = redis.pid;

    await redis.restart();
    expect(redis.pid).not.toBe(firstPid);
    expect(await redisCommand(redis.port, ['GET', 'job'])).toBe('queued');

    await redis.command('RPUSH', 'waiting', '4');
    await redis.restart({ signal: 'SIGKILL', downMs: 200 });
    expect(await redis.command('LRANGE', 'waiting', '0', '-1')).toEqual(['1', '2', '3', '4']);
  });

  it('restart() without persistence comes back empty on the same port', async () => {
    const redis = await start();
    await redis.command('SET', 'job', 'queued');
    await redis.restart();
    expect(await redisCommand(redis.port, ['PING'])).toBe('PONG');
    expect(await redis.command('GET', 'job')).toBeNull();
  });

  it('while down for a restart, connections are refused', async () => {
    const redis = await start({ persistence: true });
    const restarting = redis.restart({ downMs: 500 });
    await new Promise((r) => setTimeout(r, 250));
    await expect(redisCommand(redis.port, ['PING'], 500)).rejects.toThrow(/ECONNREFUSED/);
    await restarting;
    expect(await redis.command('PING')).toBe('PONG');
  });

  it('stop() frees the port, removes the data folder and can be called twice', async () => {
    const redis = await start({ persistence: true });
    await redis.command('SET', 'k', 'v');
    await redis.stop();
    await redis.stop();
    expect(existsSync(redis.dir)).toBe(false);
    await expect(redisCommand(redis.port, ['PING'], 500)).rejects.toThrow(/ECONNREFUSED/);
    await expect(redis.restart()).rejects.toThrow(/stopped/);
    // the port can be bound again at once
    const { createServer } = await import('node:net');
    const probe = createServer();
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject);
      probe.listen(redis.port, '127.0.0.1', () => resolve());
    });
    await new Promise((r) => probe.close(r));
  });

  it('freePort() returns a bindable loopback port', async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(0);
  });
});
