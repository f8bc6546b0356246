import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, RecordingSocket, startTestServer, type TestServer } from './helpers.js';
import { NativeClient } from './native/native-client.js';

process.env.CONES_EXECUTION_PROVIDER = 'cpu';

const STEPS = 3;

/** The smallest extraction: the demo checkpoint, 64 px, no priors, a few steps; `seed` makes each run new. */
function extractionPrompt(seed: number) {
  return {
    '1': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'tiny-sd1-demo.safetensors' } },
    '2': { class_type: 'ConesLoadSubjectImages', inputs: { subject: 'green-dotted-star', size: 64 } },
    '3': {
      class_type: 'ConesExtractConcept',
      inputs: {
        model: ['1', 0],
        clip: ['1', 1],
        vae: ['1', 2],
        images: ['2', 0],
        identifier: 'sks',
        class_noun: 'star',
        prior_count: 0,
        steps: STEPS,
        learning_rate: 0.05,
        selection: 'top_fraction',
        top_fraction: 0.01,
        threshold: 0.1,
        scope: 'cross-attention K/V',
        batch_size: 1,
        prior_loss_weight: 1,
        resolution: 64,
        seed,
        hflip: false,
        keep_training_data: false,
      },
    },
    '4': { class_type: 'ConesConceptInfo', inputs: { concept: ['3', 0] } },
  };
}

const schema = JSON.parse(
  readFileSync(new URL('../../schemas/protocol/native.schema.json', import.meta.url), 'utf8'),
);
const ajv = new Ajv({ strict: false });
ajv.addKeyword({ keyword: 'bytes', schemaType: 'boolean' });
ajv.addSchema(schema);
const validLossEvent = ajv.getSchema(`${schema.$id}#/$defs/event_cones_loss`)!;

/** The prompt's events as `type` or `type:step`, from its first event to `execution_success`. */
function timeline(events: Array<{ type: string; data: any }>, promptId: string): string[] {
  return events
    .filter((e) => e.data?.prompt_id === promptId)
    .map((e) =>
      e.type === 'cones.loss' || e.type === 'progress' ? `${e.type}:${e.data.value ?? e.data.step}` : e.type,
    )
    .filter((t) => t.startsWith('cones.loss') || t === 'execution_success');
}

function expectLossEvents(events: Array<{ type: string; data: any }>, promptId: string) {
  expect(timeline(events, promptId)).toEqual([
    ...Array.from({ length: STEPS }, (_, i) => `cones.loss:${i + 1}`),
    'execution_success',
  ]);
  for (const e of events.filter((m) => m.type === 'cones.loss' && m.data.prompt_id === promptId)) {
    expect(validLossEvent(e.data), JSON.stringify(validLossEvent.errors)).toBe(true);
    expect(e.data).toMatchObject({ node: '3', display_node: '3', steps: STEPS });
    expect(Number.isFinite(e.data.loss)).toBe(true);
    // The time estimate starts with the second step (the first starts the clock) and counts down to 0.
    if (e.data.step === 1) {
      expect(e.data).not.toHaveProperty('eta_s');
      expect(e.data).not.toHaveProperty('step_s');
    } else {
      expect(e.data.step_s).toBeGreaterThanOrEqual(0);
      // eta_s is rounded to 0.1 s, step_s to 1 ms
      const left = STEPS - e.data.step;
      expect(Math.abs(e.data.eta_s - e.data.step_s * left)).toBeLessThanOrEqual(0.05 + 0.0005 * left + 1e-9);
    }
  }
  const last = events.find(
    (m) => m.type === 'cones.loss' && m.data.prompt_id === promptId && m.data.step === STEPS,
  );
  expect(last?.data.eta_s).toBe(0);
  // Each step's loss follows that step's progress event.
  const order = events
    .filter((e) => e.data?.prompt_id === promptId && (e.type === 'progress' || e.type === 'cones.loss'))
    .map((e) => `${e.type}:${e.data.value ?? e.data.step}`);
  for (let step = 1; step <= STEPS; step++)
    expect(order.lastIndexOf(`progress:${step}`)).toBeLessThan(order.indexOf(`cones.loss:${step}`));
}

let server: TestServer;
const logLines: string[] = [];
beforeAll(async () => {
  server = await startTestServer({ serviceOptions: { log: (line) => logLines.push(line) } });
});
afterAll(async () => {
  await server?.dispose();
});

describe('Extract Concept loss events', () => {
  it("reach the submitting /ws client as cones.loss, one per step in order, and no other client's socket", async () => {
    const wsUrl = (id: string) => `${server.url.replace('http', 'ws')}/ws?clientId=${id}`;
    const owner = await RecordingSocket.open(wsUrl('loss-owner'));
    const bystander = await RecordingSocket.open(wsUrl('loss-bystander'));
    try {
      const res = await fetch(`${server.url}/prompt`, {
        method: 'POST',
        body: JSON.stringify({ prompt: extractionPrompt(1), client_id: 'loss-owner' }),
      });
      const promptId = (await json(res)).prompt_id as string;
      expect(promptId).toBeTruthy();
      await owner.next((m) => m.type === 'execution_success' && m.data.prompt_id === promptId, 120_000);
      expectLossEvents(owner.json(), promptId);
      expect(bystander.json().filter((m) => m.type === 'cones.loss')).toEqual([]);
      // The server log says the estimate once, after the second step.
      const estimates = logLines.filter(
        (line) => line.startsWith(`[${promptId.slice(0, 8)} #3]`) && line.includes('extraction estimate'),
      );
      expect(estimates).toHaveLength(1);
      expect(estimates[0]).toMatch(
        /about \d+ s on this machine \([\d.]+ s per step, 3 steps\); about \d+ s left/,
      );
    } finally {
      owner.close();
      bystander.close();
    }
  }, 180_000);

  it.each(['json', 'msgpack'] as const)(
    'reach the submitting /native client (%s) in the schema event_cones_loss shape',
    async (encoding) => {
      const client = await NativeClient.open(`${server.url.replace('http', 'ws')}/native`, encoding);
      try {
        const queued = await client.request('queue_prompt', {
          prompt: extractionPrompt(encoding === 'json' ? 2 : 3),
        });
        const promptId = queued.data.prompt_id as string;
        expect(promptId).toBeTruthy();
        await client.next((f) => f.type === 'execution_success' && f.data.prompt_id === promptId, 120_000);
        expectLossEvents(client.frames, promptId);
      } finally {
        client.close();
      }
    },
    180_000,
  );
});
