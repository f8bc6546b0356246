import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_PROMPT_TEMPLATE,
  extractionHash,
  MAX_ROUNDS,
  PRIOR_SAMPLING,
} from '../../src/cones/extract/protocol.js';
import { createPromptService, type EnginePromptService } from '../../src/engine/prompt-service.js';
import type { ApiPrompt } from '../../src/engine/service-types.js';
import { readPngText } from '../../src/image/png-text.js';
import { extractSettingsFromInputs } from '../../src/nodes/cones.js';
import { ensureDemoInFolders } from '../../src/nodes/sd.js';
import { startServer } from '../../src/server/index.js';
import { assetPath } from '../../src/shared/assets.js';

process.env.CONES_EXECUTION_PROVIDER = 'cpu';
const examples = assetPath('..', 'examples');
const workflow = (name: string): ApiPrompt =>
  JSON.parse(readFileSync(join(examples, 'workflows', name), 'utf8'));
const dirs: string[] = [];
const services: EnginePromptService[] = [];

/** A prompt service over a fresh data folder (the demo checkpoint is written on first use). */
function freshService(): EnginePromptService {
  const dataDir = mkdtempSync(join(tmpdir(), 'cones-nodes-'));
  dirs.push(dataDir);
  const service = createPromptService({ dataDir, log: () => {} });
  services.push(service);
  return service;
}

/** The single-subject example's Extract Concept inputs without its optional ones (rounds, prompt_template, prior_cfg). */
function plainExtractInputs(): Record<string, unknown> {
  const { rounds, prompt_template, prior_cfg, ...inputs } = workflow('cones-single-subject.api.json')['3']
    .inputs as Record<string, unknown>;
  expect([rounds, prompt_template, prior_cfg]).not.toContain(undefined);
  return inputs;
}

async function runPrompt(service: EnginePromptService, prompt: ApiPrompt) {
  const queued = await service.queuePrompt({ client_id: 'cones-test', prompt, extra_data: {} });
  if (!queued.ok) throw new Error(JSON.stringify(queued));
  const entry = await service.waitForPrompt(queued.prompt_id);
  const status = entry.status as { status_str?: string; messages?: unknown };
  if (status?.status_str !== 'success') throw new Error(`prompt failed: ${JSON.stringify(status?.messages)}`);
  return entry;
}

function savedPng(
  service: EnginePromptService,
  entry: { outputs: Record<string, unknown> },
  node: string,
): string {
  const images = (entry.outputs[node] as { images: { filename: string; subfolder: string }[] }).images;
  return join(service.env.dirs.output, images[0].subfolder, images[0].filename);
}

const pixels = async (file: string) => (await sharp(file).raw().toBuffer()).toString('base64');

afterAll(async () => {
  for (const s of services) await s.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('Cones nodes', () => {
  it('list Extract Concept, Apply Concept Mask and Load Subject Photos in /object_info under cones', () => {
    const info = freshService().registry.objectInfo(services[0].env);
    expect(info.ConesExtractConcept.display_name).toBe('Extract Concept');
    expect(info.ConesExtractConcept.category).toBe('cones');
    expect(info.ConesExtractConcept.output).toEqual(['CONCEPT']);
    expect(Object.keys(info.ConesExtractConcept.input.required)).toEqual(
      expect.arrayContaining([
        'model',
        'clip',
        'vae',
        'images',
        'identifier',
        'class_noun',
        'steps',
        'learning_rate',
        'selection',
        'scope',
        'keep_training_data',
      ]),
    );
    expect(info.ConesExtractConcept.input.optional?.prior_images?.[0]).toBe('IMAGE');
    expect(info.ConesExtractConcept.input.optional?.rounds).toEqual([
      'INT',
      expect.objectContaining({ default: 1, min: 1, max: MAX_ROUNDS }),
    ]);
    expect(info.ConesApplyConceptMask.output).toEqual(['MODEL']);
    expect(info.ConesLoadSubjectImages.input.required.subject[0]).toEqual(
      expect.arrayContaining(['green-dotted-star', 'red-striped-square', 'blue-dotted-triangle']),
    );
  });

  it('refuse bad extraction settings at validation, naming the input', async () => {
    const service = freshService();
    const prompt = workflow('cones-single-subject.api.json');
    (prompt['3'].inputs as Record<string, unknown>).resolution = 100;
    const r = await service.queuePrompt({ client_id: 'cones-test', prompt, extra_data: {} });
    expect(r.ok).toBe(false);
    expect(JSON.stringify(r)).toMatch(/resolution must be a multiple of 8/);
    const missing = workflow('cones-single-subject.api.json');
    (missing['2'].inputs as Record<string, unknown>).subject = 'no-such-subject';
    const r2 = await service.queuePrompt({ client_id: 'cones-test', prompt: missing, extra_data: {} });
    expect(JSON.stringify(r2)).toMatch(/no-such-subject/);
    for (const rounds of [0, MAX_ROUNDS + 1]) {
      const bad = workflow('cones-single-subject.api.json');
      (bad['3'].inputs as Record<string, unknown>).rounds = rounds;
      const r3 = await service.queuePrompt({ client_id: 'cones-test', prompt: bad, extra_data: {} });
      expect(r3.ok).toBe(false);
      expect(JSON.stringify(r3)).toMatch(/rounds/);
    }
  });

  it('pass the rounds input to extraction; absent and 1 are the same extraction', () => {
    const inputs = plainExtractInputs();
    const payload = (extra: Record<string, unknown>) => ({
      checkpoint: { fingerprint: 'f' } as never,
      images: { data: new Float32Array(12), shape: [1, 2, 2, 3] },
      identifier: 'sks',
      classNoun: 'star',
      keepTrainingData: false,
      settings: extractSettingsFromInputs({ ...inputs, ...extra }),
    });
    expect(extractSettingsFromInputs({ ...inputs, rounds: 4 }).rounds).toBe(4);
    expect(extractSettingsFromInputs(inputs).rounds).toBeUndefined();
    expect(extractionHash(payload({ rounds: 1 }))).toBe(extractionHash(payload({})));
    expect(extractionHash(payload({ rounds: 2 }))).not.toBe(extractionHash(payload({})));
  });

  it('pass prompt_template and prior_cfg to extraction; their defaults are the same extraction as absent', () => {
    const inputs = plainExtractInputs();
    const defaults = extractSettingsFromInputs({
      ...inputs,
      prompt_template: DEFAULT_PROMPT_TEMPLATE,
      prior_cfg: PRIOR_SAMPLING.cfg,
    });
    expect(defaults).toEqual(extractSettingsFromInputs(inputs));
    const chosen = extractSettingsFromInputs({
      ...inputs,
      prompt_template: 'a photo of a {identifier} {class}',
      prior_cfg: 1,
    });
    expect(chosen.promptTemplate).toBe('a photo of a {identifier} {class}');
    expect(chosen.priorCfg).toBe(1);
  });

  it('refuse a prompt_template without {identifier} or a prior_cfg out of range at validation', async () => {
    const service = freshService();
    for (const [input, value, message] of [
      ['prompt_template', 'photo of a dog', /prompt_template must contain/],
      ['prior_cfg', 0, /prior_cfg/],
    ] as const) {
      const bad = workflow('cones-single-subject.api.json');
      (bad['3'].inputs as Record<string, unknown>)[input] = value;
      const r = await service.queuePrompt({ client_id: 'cones-test', prompt: bad, extra_data: {} });
      expect(r.ok).toBe(false);
      expect(JSON.stringify(r)).toMatch(message);
    }
  });

  it('run the two-subject example, and its PNG runs again on a data folder without concept files with identical pixels', async () => {
    const first = freshService();
    const entry = await runPrompt(first, workflow('cones-two-subjects.api.json'));
    const png = savedPng(first, entry, '25');
    const text = readPngText(readFileSync(png));
    expect(JSON.stringify(entry.outputs['7'])).toMatch(/union of 2, refined 2 steps/);
    const again = freshService();
    expect(existsSync(join(again.env.dirs.root, 'cache', 'cones'))).toBe(false);
    const second = await runPrompt(again, JSON.parse(text.prompt) as ApiPrompt);
    expect(await pixels(savedPng(again, second, '25'))).toBe(await pixels(png));
    // The PNG carries both extractions and the refined merge: nothing is computed again.
    expect(JSON.stringify(second.outputs)).toMatch(/used the concept carried in the workflow/);
    expect(JSON.stringify(second.outputs['6'])).toMatch(/taken from the workflow, not refined again/);
    expect(existsSync(join(again.env.dirs.root, 'cache', 'cones'))).toBe(false);
  }, 240_000);

  it('run the embedded-concept example on a fresh data folder (the concept travels in the prompt)', async () => {
    const service = freshService();
    // The example's concept was extracted from the shipped demo model; the other tests use the random one.
    await ensureDemoInFolders(service.env, 'shipped');
    const entry = await runPrompt(service, workflow('cones-embedded-concept.api.json'));
    expect(existsSync(savedPng(service, entry, '25'))).toBe(true);
    expect(JSON.stringify(entry.outputs['3'])).toMatch(/zwx ring/);
  }, 120_000);

  it('run the single-subject example through a real server with the scripted msgpack client', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'cones-client-'));
    dirs.push(dataDir);
    const server = await startServer({ port: 0, dataDir, serviceOptions: { log: () => {} } });
    try {
      const out = join(dataDir, 'client-out');
      const url = `${server.url.replace(/^http/, 'ws')}/native`;
      const { stdout } = await promisify(execFile)(
        process.execPath,
        [join(examples, 'cones-client.mjs'), '--url', url, '--out', out, '--quiet'],
        { env: { ...process.env, CONES_EXECUTION_PROVIDER: 'cpu' } },
      );
      // The generated picture and Concept Info's chart.
      const saved = stdout.trim().split('\n');
      expect(saved).toHaveLength(2);
      const sizes = await Promise.all(
        saved.map(async (file) => {
          const meta = await sharp(file).metadata();
          return [meta.format, meta.width, meta.height];
        }),
      );
      expect(sizes).toContainEqual(['png', 64, 64]);
      expect(existsSync(join(dataDir, 'input', 'orange-striped-ring', '1.png'))).toBe(true);
      expect(
        existsSync(join(dataDir, 'models', 'concepts', 'examples', 'zwx_ring_00001_.cones.safetensors')),
      ).toBe(true);
      expect(existsSync(join(dataDir, 'cache', 'cones', 'results'))).toBe(true);
    } finally {
      await server.close();
    }
  }, 180_000);
});
