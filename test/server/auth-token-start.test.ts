import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../../src/server/index.js';
import { MIN_AUTH_TOKEN_LENGTH } from '../../src/server/security.js';

let dataDir: string;
beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'cones-token-start-'));
});
afterAll(() => rm(dataDir, { recursive: true, force: true }));

const quiet = { port: 0, demoCheckpoint: false, serviceOptions: { log: () => {} } };

describe('startServer auth token rules', () => {
  it('refuses a blank, short, padded or non-ASCII token, naming the minimum length', async () => {
    for (const [host, authToken] of [
      ['0.0.0.0', '   '],
      ['127.0.0.1', ''],
      ['127.0.0.1', 'short-secret'],
      ['127.0.0.1', ' padded-secret-0123456789 '],
      ['127.0.0.1', 'secret-with-newline-0123456789\n'],
      ['127.0.0.1', 'sécret-non-ascii-0123456789'],
    ]) {
      await expect(
        startServer({ ...quiet, host, authToken, dataDir }),
        JSON.stringify(authToken),
      ).rejects.toThrow(`at least ${MIN_AUTH_TOKEN_LENGTH}`);
    }
  });

  it('on 0.0.0.0 reports the wildcard bind and a loopback URL that works', async () => {
    const authToken = 'a-long-enough-test-token';
    const server = await startServer({ ...quiet, host: '0.0.0.0', authToken, dataDir });
    try {
      expect(server.listen.address).toBe('0.0.0.0');
      expect(server.listen.allInterfaces).toBe(true);
      expect(server.listen.port).toBe(server.port);
      expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
      const res = await fetch(`${server.url}/system_stats`, {
        headers: { authorization: `Bearer ${authToken}` },
      });
      expect(res.status).toBe(200);
      expect((await fetch(`${server.url}/system_stats?token=%20%20%20`)).status).toBe(401);
    } finally {
      await server.close();
    }
  });

  it('on loopback reports that address and no other', async () => {
    const server = await startServer({ ...quiet, dataDir });
    try {
      expect(server.listen).toMatchObject({ address: '127.0.0.1', allInterfaces: false, networkUrls: [] });
      expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
    } finally {
      await server.close();
    }
  });
});
