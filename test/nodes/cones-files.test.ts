import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embedConcepts, extractEmbeddedConcepts } from '../../src/cones/embed.js';
import { decodeConcept, encodeConcept, loadConceptFile } from '../../src/cones/file.js';
import { createPromptService, type EnginePromptService } from '../../src/engine/prompt-service.js';
import { readPngText } from '../../src/image/png-text.js';
import { conesFileNodes, listConceptFiles } from '../../src/nodes/cones-files.js';
import { createNodeRegistry } from '../../src/nodes/index.js';
import { randomConcept } from '../cones/helpers.js';

const DOG = 'sks_dog.cones.safetensors';
const CAT = 'pets/xyz_cat.cones.safetensors';
const OTHER_MODEL = 'other_model.cones.safetensors';

describe('concept file nodes in the engine', () => {
  let dataDir: string;
  let service: EnginePromptService;
  let conceptsDir: string;
  const dogBytes = encodeConcept(randomConcept({ seed: 1, density: 0.01, fingerprint: 'm1' })).bytes;
  const catBytes = encodeConcept(
    randomConcept({ seed: 2, density: 0.01, fingerprint: 'm1', identifier: 'xyz', classNoun: 'cat' }),
  ).bytes;

  beforeAll(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'cones-nodes-'));
    const registry = createNodeRegistry();
    for (const def of conesFileNodes) if (!registry.has(def.name)) registry.register(def);
    service = createPromptService({ dataDir, registry, log: () => {} });
    conceptsDir = service.env.dirs.models.concepts[0];
    writeFileSync(join(conceptsDir, DOG), dogBytes);
    mkdirSync(join(conceptsDir, 'pets'), { recursive: true });
    writeFileSync(join(conceptsDir, CAT), catBytes);
    writeFileSync(
      join(conceptsDir, OTHER_MODEL),
      encodeConcept(randomConcept({ seed: 3, density: 0.01, fingerprint: 'm2', identifier: 'qqq' })).bytes,
    );
  });
  afterAll(async () => {
    await service.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function run(prompt: Record<string, unknown>, extraPngInfo?: Record<string, unknown>) {
    const r = await service.queuePrompt({
      client_id: 't',
      prompt: prompt as never,
      extra_data: { extra_pnginfo: extraPngInfo ?? {} },
    });
    if (!r.ok) return { ok: false as const, error: r };
    return { ok: true as const, entry: await service.waitForPrompt(r.prompt_id) };
  }

  it('lists concept files (subfolders included) in the Load Concept combo of /object_info', () => {
    expect(listConceptFiles(service.env)).toEqual([OTHER_MODEL, CAT, DOG].sort());
    const info = service.registry.objectInfo(service.env);
    expect(info.ConesLoadConcept.input.required.concept_name[0]).toEqual([OTHER_MODEL, CAT, DOG].sort());
    expect(info.ConesMergeConcepts.input.optional?.concept_4?.[0]).toBe('CONCEPT');
    expect(info.ConesMergeConcepts.output).toEqual(['CONCEPT', 'STRING']);
    for (const def of conesFileNodes) expect(info[def.name].category).toBe('cones');
    expect(conesFileNodes.map((d) => d.displayName)).toEqual([
      'Save Concept',
      'Load Concept',
      'Concept Info',
      'Merge Concepts',
    ]);
  });

  it('Load Concept → Concept Info shows the text and a chart preview', async () => {
    const r = await run({
      '1': { class_type: 'ConesLoadConcept', inputs: { concept_name: DOG } },
      '2': { class_type: 'ConesConceptInfo', inputs: { concept: ['1', 0] } },
    });
    expect(r.ok && r.entry.status.status_str).toBe('success');
    if (!r.ok) return;
    const ui = r.entry.outputs['2'] as { text: string[]; images: Array<{ filename: string; type: string }> };
    expect(ui.text[0]).toMatch(/Concept "sks dog"/);
    expect(ui.text[0]).toMatch(/bytes\/index/);
    expect(ui.images[0].type).toBe('temp');
    expect(existsSync(join(service.env.dirs.temp, ui.images[0].filename))).toBe(true);
  });

  it('Merge Concepts → Save Concept writes the union to models/concepts', async () => {
    const r = await run({
      '1': { class_type: 'ConesLoadConcept', inputs: { concept_name: DOG } },
      '2': { class_type: 'ConesLoadConcept', inputs: { concept_name: CAT } },
      '3': {
        class_type: 'ConesMergeConcepts',
        inputs: { concept_1: ['1', 0], concept_2: ['2', 0], refine_steps: 0 },
      },
      '4': {
        class_type: 'ConesSaveConcept',
        inputs: { concept: ['3', 0], filename_prefix: 'merged/dog_cat' },
      },
    });
    expect(r.ok && r.entry.status.status_str).toBe('success');
    if (!r.ok) return;
    expect(r.entry.outputs['4']).toEqual({
      concepts: [{ filename: 'dog_cat_00001_.cones.safetensors', subfolder: 'merged', type: 'concepts' }],
      text: ['merged/dog_cat_00001_.cones.safetensors'],
    });
    const merged = await loadConceptFile(join(conceptsDir, 'merged', 'dog_cat_00001_.cones.safetensors'));
    const dog = decodeConcept(dogBytes);
    const cat = decodeConcept(catBytes);
    merged.layers.forEach((l, i) => {
      const union = new Set([...dog.layers[i].indices, ...cat.layers[i].indices]);
      expect(l.indices.length).toBe(union.size);
    });
    expect(merged.description.identifier).toBe('sks+xyz');
  });

  it('refuses refine_steps > 0 without the model input (refinement runs on the base model)', async () => {
    const r = await run({
      '1': { class_type: 'ConesLoadConcept', inputs: { concept_name: DOG } },
      '2': { class_type: 'ConesLoadConcept', inputs: { concept_name: CAT } },
      '3': {
        class_type: 'ConesMergeConcepts',
        inputs: { concept_1: ['1', 0], concept_2: ['2', 0], refine_steps: 3 },
      },
      '4': { class_type: 'ConesConceptInfo', inputs: { concept: ['3', 0] } },
    });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(JSON.stringify(r.entry)).toMatch(/needs the model input/);
  });

  it('refuses to merge concepts of different base models, naming both', async () => {
    const r = await run({
      '1': { class_type: 'ConesLoadConcept', inputs: { concept_name: DOG } },
      '2': { class_type: 'ConesLoadConcept', inputs: { concept_name: OTHER_MODEL } },
      '3': {
        class_type: 'ConesMergeConcepts',
        inputs: { concept_1: ['1', 0], concept_2: ['2', 0], refine_steps: 0 },
      },
      '4': { class_type: 'ConesConceptInfo', inputs: { concept: ['3', 0] } },
    });
    expect(r.ok && r.entry.status.status_str).toBe('error');
    if (!r.ok) return;
    expect(JSON.stringify(r.entry.status.messages)).toMatch(
      /different base models: \\"sks dog\\".*fingerprint m1.*\\"qqq dog\\".*fingerprint m2/,
    );
  });

  it('uses the concept embedded in the workflow when the file is absent, and it reaches SaveImage PNGs', async () => {
    const absent = 'travelled/sks_dog.cones.safetensors';
    const workflow = embedConcepts({ nodes: [], links: [], version: 0.4, extra: {} }, { [absent]: dogBytes });
    const r = await run(
      {
        '1': { class_type: 'ConesLoadConcept', inputs: { concept_name: absent } },
        '2': { class_type: 'ConesConceptInfo', inputs: { concept: ['1', 0] } },
        '3': { class_type: 'SaveImage', inputs: { images: ['2', 1], filename_prefix: 'chart' } },
      },
      { workflow },
    );
    expect(r.ok && r.entry.status.status_str).toBe('success');
    if (!r.ok) return;
    const saved = (r.entry.outputs['3'] as { images: Array<{ filename: string }> }).images[0].filename;
    const png = readFileSync(join(service.env.dirs.output, saved));
    const carried = extractEmbeddedConcepts(readPngText(png)).get(absent);
    expect(carried).toEqual(dogBytes);
  });

  it('uses the copy an API prompt carries in the Load Concept node _meta (scripts, SDKs)', async () => {
    const absent = 'api_only.cones.safetensors';
    const prompt = embedConcepts(
      {
        '1': {
          class_type: 'ConesLoadConcept',
          inputs: { concept_name: absent },
          _meta: { title: 'Load Concept' },
        },
        '2': { class_type: 'ConesConceptInfo', inputs: { concept: ['1', 0] } },
      },
      { [absent]: catBytes },
    );
    const r = await run(prompt);
    expect(r.ok && r.entry.status.status_str).toBe('success');
    if (!r.ok) return;
    expect((r.entry.outputs['2'] as { text: string[] }).text[0]).toMatch(/Concept "xyz cat"/);
  });

  it('keys an embedded copy by its content: two workflows carrying different files under one name', async () => {
    const name = 'same_name.cones.safetensors';
    const prompt = {
      '1': { class_type: 'ConesLoadConcept', inputs: { concept_name: name } },
      '2': { class_type: 'ConesConceptInfo', inputs: { concept: ['1', 0] } },
    };
    const first = await run(embedConcepts(prompt, { [name]: dogBytes }));
    const second = await run(embedConcepts(prompt, { [name]: catBytes }));
    if (!first.ok || !second.ok) throw new Error('not queued');
    expect((first.entry.outputs['2'] as { text: string[] }).text[0]).toMatch(/Concept "sks dog"/);
    expect((second.entry.outputs['2'] as { text: string[] }).text[0]).toMatch(/Concept "xyz cat"/);
  });

  it('carries a concept loaded from models/concepts in the PNG and the history it writes', async () => {
    const r = await run(
      {
        '1': { class_type: 'ConesLoadConcept', inputs: { concept_name: CAT } },
        '2': { class_type: 'ConesConceptInfo', inputs: { concept: ['1', 0] } },
        '3': { class_type: 'SaveImage', inputs: { images: ['2', 1], filename_prefix: 'carried-file' } },
      },
      { workflow: { nodes: [], links: [], version: 0.4, extra: {} } },
    );
    if (!r.ok) throw new Error('not queued');
    const saved = (r.entry.outputs['3'] as { images: Array<{ filename: string }> }).images[0].filename;
    const text = readPngText(readFileSync(join(service.env.dirs.output, saved)));
    expect(JSON.parse(text.prompt)['1']._meta.cones_concept.name).toBe(CAT);
    expect(extractEmbeddedConcepts(JSON.parse(text.workflow)).get(CAT)).toEqual(catBytes);
    const [, , historyPrompt, extraData] = r.entry.prompt as unknown as [number, string, any, any];
    expect(extractEmbeddedConcepts(historyPrompt).get(CAT)).toEqual(catBytes);
    expect(extractEmbeddedConcepts(extraData.extra_pnginfo.workflow).get(CAT)).toEqual(catBytes);
  });

  it('says clearly when a concept is neither on disk nor embedded, or its embedded copy is bad', async () => {
    const missing = await run({
      '1': { class_type: 'ConesLoadConcept', inputs: { concept_name: 'nowhere.cones.safetensors' } },
      '2': { class_type: 'ConesConceptInfo', inputs: { concept: ['1', 0] } },
    });
    expect(missing.ok && JSON.stringify(missing.entry.status.messages)).toMatch(
      /not in models\/concepts and the workflow carries no embedded copy/,
    );
    const workflow = embedConcepts(
      { nodes: [], links: [], extra: {} },
      { 'bad.cones.safetensors': dogBytes },
    ) as any;
    workflow.extra.cones_concepts['bad.cones.safetensors'].data = '!!!';
    const bad = await run(
      {
        '1': { class_type: 'ConesLoadConcept', inputs: { concept_name: 'bad.cones.safetensors' } },
        '2': { class_type: 'ConesConceptInfo', inputs: { concept: ['1', 0] } },
      },
      { workflow },
    );
    expect(bad.ok && JSON.stringify(bad.entry.status.messages)).toMatch(
      /embedded concept 'bad.cones.safetensors' is not valid base64/,
    );
    const escaping = await run({
      '1': { class_type: 'ConesLoadConcept', inputs: { concept_name: '../x.cones.safetensors' } },
      '2': { class_type: 'ConesConceptInfo', inputs: { concept: ['1', 0] } },
    });
    expect(escaping.ok).toBe(false);
  });
});
