import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEMO_CHECKPOINT_NAME } from '../../src/sd/tiny-model.js';
import { startServer } from '../../src/server/index.js';

describe('startServer', () => {
  it('close() does not wait for a client that holds a request open (half-sent body)', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'cones-close-'));
    try {
      const server = await startServer({
        port: 0,
        dataDir,
        demoCheckpoint: false,
        serviceOptions: { log: () => {} },
      });
      const socket = connect(server.port, '127.0.0.1');
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      socket.on('error', () => {});
      // Headers promise 1000 bytes; only a few arrive, so the request never completes on its own.
      socket.write('POST /prompt HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n{"pro');
      await new Promise((resolve) => setTimeout(resolve, 100));
      const closed = await Promise.race([
        server.close().then(() => 'closed'),
        new Promise((resolve) => setTimeout(() => resolve('still waiting'), 15_000)),
      ]);
      socket.destroy();
      expect(closed).toBe('closed');
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('puts the demo checkpoint into models/checkpoints on first start, complete before it resolves', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'cones-first-start-'));
    try {
      const server = await startServer({ port: 0, dataDir, serviceOptions: { log: () => {} } });
      const folder = server.dirs.models.checkpoints[0];
      try {
        expect(readdirSync(folder)).toEqual([DEMO_CHECKPOINT_NAME]); // no temporary file left
        const listed = (await (await fetch(`${server.url}/models/checkpoints`)).json()) as string[];
        expect(listed).toContain(DEMO_CHECKPOINT_NAME);
      } finally {
        await server.close();
      }
      const written = statSync(join(folder, DEMO_CHECKPOINT_NAME)).mtimeMs;
      const again = await startServer({ port: 0, dataDir, serviceOptions: { log: () => {} } });
      await again.close();
      expect(statSync(join(folder, DEMO_CHECKPOINT_NAME)).mtimeMs).toBe(written); // left alone
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('writes no demo checkpoint with demoCheckpoint: false', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'cones-no-demo-'));
    try {
      const server = await startServer({
        port: 0,
        dataDir,
        demoCheckpoint: false,
        serviceOptions: { log: () => {} },
      });
      await server.close();
      expect(existsSync(join(server.dirs.models.checkpoints[0], DEMO_CHECKPOINT_NAME))).toBe(false);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('close() waits for the demo checkpoint write that a listing started', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'cones-listing-demo-'));
    try {
      const server = await startServer({
        port: 0,
        dataDir,
        demoCheckpoint: false,
        serviceOptions: { log: () => {} },
      });
      expect((await fetch(`${server.url}/object_info`)).status).toBe(200); // starts the write
      await server.close();
      expect(readdirSync(server.dirs.models.checkpoints[0])).toEqual([DEMO_CHECKPOINT_NAME]);
    } finally {
      await rm(dataDir, { recursive: true });
    }
  });

  it('a start that fails (port taken) still finishes its demo checkpoint write before rejecting', async () => {
    const taken = await startServer({
      port: 0,
      demoCheckpoint: false,
      dataDir: await mkdtemp(join(tmpdir(), 'cones-port-')),
      serviceOptions: { log: () => {} },
    });
    const dataDir = await mkdtemp(join(tmpdir(), 'cones-failed-start-'));
    try {
      await expect(
        startServer({ port: taken.port, dataDir, serviceOptions: { log: () => {} } }),
      ).rejects.toThrow(/EADDRINUSE/);
      expect(readdirSync(join(dataDir, 'models', 'checkpoints'))).toEqual([DEMO_CHECKPOINT_NAME]);
    } finally {
      await taken.close();
      await rm(taken.dirs.root, { recursive: true });
      await rm(dataDir, { recursive: true });
    }
  });
});
