/**
 * Self-contained outputs (issue #8 item 1): a PNG written by a run that extracted a concept carries the
 * concept, so it runs on a fresh server that has neither concept files nor the subject photos, with
 * identical pixels and without the extraction task ever running there. Over HTTP with the real SDKs.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CallWrapper, ComfyApi, PromptBuilder } from '@saintno/comfyui-sdk';
import { Client } from '@stable-canvas/comfyui-client';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { readPngText } from '../../src/image/png-text.js';
import type { RuntimeClient } from '../../src/runtime/task-map.js';
import { WorkerRuntime } from '../../src/runtime/worker-runtime.js';
import { extractionPrompt, SUBJECT, subjectPhoto } from '../cones/carried-fixtures.js';
import { json, startTestServer, type TestServer } from './helpers.js';

process.env.CONES_EXECUTION_PROVIDER = 'cpu';

/** The real worker runtime, with a record of the tasks it was asked to run. */
function recordingRuntime() {
  const inner = new WorkerRuntime({ log: () => {} });
  const tasks: string[] = [];
  const runtime = {
    call(task: string, payload: unknown, options?: unknown) {
      tasks.push(task);
      return (inner.call as (t: string, p: unknown, o?: unknown) => Promise<unknown>)(task, payload, options);
    },
    close: () => inner.close(),
  } as unknown as RuntimeClient & { close(): Promise<void> };
  return { runtime, tasks };
}

/** A UI workflow as a front end sends it in extra_pnginfo (the carrier the front end keeps). */
const uiWorkflow = { version: 0.4, nodes: [], links: [], extra: { ds: { scale: 1, offset: [0, 0] } } };

const servers: TestServer[] = [];
const runtimes: Array<{ close(): Promise<void> }> = [];
afterAll(async () => {
  for (const s of servers) await s.dispose();
  for (const r of runtimes) await r.close();
});

async function serverWithRecordedTasks() {
  const { runtime, tasks } = recordingRuntime();
  runtimes.push(runtime);
  const server = await startTestServer({ serviceOptions: { runtime } });
  servers.push(server);
  return { server, tasks };
}

const pixels = async (png: Buffer) => (await sharp(png).raw().toBuffer()).toString('base64');

function stableCanvas(server: TestServer, clientId: string): Client {
  return new Client({ api_host: new URL(server.url).host, WebSocket: WebSocket as never, clientId });
}

describe('a PNG carries the concepts its run made', () => {
  it('runs on fresh servers without concept files or subject photos, with identical pixels and no extraction', async () => {
    // Server A: the photos arrive through the upload API into input/<subject>/.
    const a = await serverWithRecordedTasks();
    const apiA = new ComfyApi(a.server.url, 'self-contained-a').init(20, 100);
    await apiA.waitForReady();
    try {
      for (const i of [1, 2]) {
        const up = await apiA.uploadImage(await subjectPhoto(i), `${i}.png`, { subfolder: SUBJECT });
        expect(up).not.toBe(false);
      }
    } finally {
      apiA.destroy();
    }
    expect(existsSync(join(a.server.dataDir, 'input', SUBJECT, '1.png'))).toBe(true);

    // Run A with a UI workflow in extra_pnginfo (as a front end sends it), through @stable-canvas.
    const clientA = stableCanvas(a.server, 'self-contained-a');
    await clientA.connect();
    let pngA: Buffer;
    try {
      // Polling: the WebSocket form resolves at the first `executed` (Extract Concept's text).
      const out = await clientA.enqueue_polling(extractionPrompt(), {
        workflow: uiWorkflow,
        disable_random_seed: true,
        polling_ms: 200,
      });
      pngA = Buffer.from(await (await fetch(out.images[0].data as string)).arrayBuffer());
    } finally {
      clientA.close();
    }
    expect(a.tasks).toContain('cones.extract');
    const chunks = readPngText(pngA);
    const promptA = JSON.parse(chunks.prompt);
    const carriedA = promptA['3']._meta.cones_concept;
    expect(promptA['3']._meta.title).toBe('Extract Concept');
    expect(carriedA).toMatchObject({
      name: expect.stringMatching(/^sks-ball-[0-9a-f]{12}\.cones\.safetensors$/),
    });
    expect(carriedA.key).toMatch(/^[0-9a-f]{32}$/);
    // The compressed index streams, not masks: a few KB for the tiny model.
    expect(Buffer.from(carriedA.data, 'base64').length).toBeLessThan(200_000);
    const workflowA = JSON.parse(chunks.workflow);
    expect(workflowA.extra.ds).toEqual(uiWorkflow.extra.ds);
    expect(Object.values(workflowA.extra.cones_concepts)).toEqual([
      { sha256: carriedA.sha256, data: carriedA.data, recipe: carriedA.recipe, key: carriedA.key, node: '3' },
    ]);

    // Server B (fresh: no concept files, no photos): the PNG's prompt chunk through @saintno's SDK.
    const b = await serverWithRecordedTasks();
    expect(existsSync(join(b.server.dataDir, 'input', SUBJECT))).toBe(false);
    const apiB = new ComfyApi(b.server.url, 'self-contained-b').init(20, 100);
    await apiB.waitForReady();
    let pngB: Buffer;
    try {
      const builder = new PromptBuilder(promptA, [], ['image']).setOutputNode('image', '10');
      const result = await new Promise<any>((resolve, reject) => {
        let error: Error | undefined;
        new CallWrapper(apiB, builder)
          .onFailed((e) => {
            error = e;
          })
          .run()
          .then((r) => (r ? resolve(r) : reject(error ?? new Error('run failed'))), reject);
      });
      pngB = Buffer.from(await (await apiB.getImage(result.image.images[0])).arrayBuffer());
      const [entry] = Object.values(await json(fetch(`${b.server.url}/history`))) as any[];
      expect(entry.outputs['3'].text[0]).toMatch(
        /used the concept carried in the workflow .*photos were not needed/,
      );
    } finally {
      apiB.destroy();
    }
    expect(await pixels(pngB)).toBe(await pixels(pngA));
    expect(b.tasks).not.toContain('cones.extract');
    expect(b.tasks.length).toBeGreaterThan(0); // the sampler did run there
    expect(existsSync(join(b.server.dataDir, 'cache', 'cones'))).toBe(false);
    // B's PNG is self-contained too.
    expect(JSON.parse(readPngText(pngB).prompt)['3']._meta.cones_concept.sha256).toBe(carriedA.sha256);

    // Server C, as a front end opens A's PNG: an API prompt converted from the workflow (no _meta kept)
    // with the workflow chunk in extra_pnginfo. That front end also sends Extract Concept's `rounds` at its
    // default, an input A's prompt did not have: the same recipe, so the carried concept is still found.
    const c = await serverWithRecordedTasks();
    const clientC = stableCanvas(c.server, 'self-contained-c');
    await clientC.connect();
    try {
      expect(extractionPrompt()['3'].inputs).not.toHaveProperty('rounds');
      const bare = Object.fromEntries(
        Object.entries(extractionPrompt()).map(([id, n]) => [
          id,
          { class_type: n.class_type, inputs: id === '3' ? { ...n.inputs, rounds: 1 } : n.inputs },
        ]),
      );
      const out = await clientC.enqueue_polling(bare, {
        workflow: workflowA,
        disable_random_seed: true,
        polling_ms: 200,
      });
      const pngC = Buffer.from(await (await fetch(out.images[0].data as string)).arrayBuffer());
      expect(await pixels(pngC)).toBe(await pixels(pngA));
    } finally {
      clientC.close();
    }
    expect(c.tasks).not.toContain('cones.extract');
  }, 300_000);

  it('still refuses the missing photos when nothing carries the concept', async () => {
    const b = servers[1] ?? (await serverWithRecordedTasks()).server;
    const res = await fetch(`${b.url}/prompt`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: extractionPrompt() }),
    });
    expect(res.status).toBe(400);
    expect(JSON.stringify(await res.json())).toContain(`subject folder '${SUBJECT}' is not in input/`);
  });
});
