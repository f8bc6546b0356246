import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isGeneratedRandomDemo, shippedDemoCheckpointPath } from '../../src/sd/demo-checkpoint.js';
import { DEMO_CHECKPOINT_NAME } from '../../src/sd/tiny-model.js';
import { type StartServerOptions, startServer } from '../../src/server/index.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function demoAfterStart(demoCheckpoint: StartServerOptions['demoCheckpoint']): Promise<string> {
  const dataDir = await mkdtemp(join(tmpdir(), 'cones-demo-start-'));
  dirs.push(dataDir);
  const server = await startServer({
    port: 0,
    dataDir,
    demoCheckpoint,
    frontEnd: null,
    webExtensionDir: null,
    serviceOptions: { log: () => {} },
  });
  await server.close();
  const folder = server.dirs.models.checkpoints[0];
  // Besides the model, at most the record of a shipped model's placement (no temporary files).
  expect(readdirSync(folder).filter((name) => name !== '.tiny-sd1-demo.placed.json')).toEqual([
    DEMO_CHECKPOINT_NAME,
  ]);
  return join(folder, DEMO_CHECKPOINT_NAME);
}

describe('startServer demoCheckpoint', () => {
  it("'shipped' places the package's trained model (the random one where the package has none)", async () => {
    const path = await demoAfterStart('shipped');
    const shipped = shippedDemoCheckpointPath();
    if (existsSync(shipped)) expect(readFileSync(path).equals(readFileSync(shipped))).toBe(true);
    else expect(await isGeneratedRandomDemo(path)).toBe(true);
  });

  it("'random' places the random tiny model", async () => {
    expect(await isGeneratedRandomDemo(await demoAfterStart('random'))).toBe(true);
  });

  it('refuses a value it does not know, naming the option', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'cones-demo-start-'));
    dirs.push(dataDir);
    await expect(
      startServer({
        port: 0,
        dataDir,
        demoCheckpoint: 'trained' as 'shipped',
        serviceOptions: { log: () => {} },
      }),
    ).rejects.toThrow("demoCheckpoint must be shipped or random, got 'trained'");
  });
});
