import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import {
  carriedConcept,
  EmbeddedConceptError,
  embedCarried,
  embedConcepts,
  extractEmbeddedConcepts,
  findCarried,
  findEmbeddedConcept,
  producedConceptName,
} from '../../src/cones/embed.js';
import { decodeConcept, encodeConcept } from '../../src/cones/file.js';
import { nodeRecipe } from '../../src/cones/recipe.js';
import { addPngText, readPngText } from '../../src/image/png-text.js';
import { pythonJsonDumps } from '../../src/image/py-json.js';
import { randomConcept } from './helpers.js';

const NAME = 'dogs/sks.cones.safetensors';
const bytes = encodeConcept(randomConcept({ seed: 1, density: 0.01 })).bytes;

const uiWorkflow = {
  id: 'wf',
  version: 0.4,
  nodes: [{ id: 1, type: 'ConesLoadConcept', widgets_values: [NAME] }],
  links: [],
  extra: { ds: { scale: 1, offset: [0, 0] } },
};
const apiPrompt = {
  '1': { class_type: 'ConesLoadConcept', inputs: { concept_name: NAME }, _meta: { title: 'Load Concept' } },
  '2': { class_type: 'ConesConceptInfo', inputs: { concept: ['1', 0] } },
};

describe('concepts embedded in workflows', () => {
  it('round-trips through a UI workflow (extra.cones_concepts), keeping its other extra keys', () => {
    const embedded = embedConcepts(uiWorkflow, { [NAME]: bytes }) as any;
    expect(embedded.extra.ds).toEqual(uiWorkflow.extra.ds);
    expect(Object.keys(embedded.extra.cones_concepts)).toEqual([NAME]);
    const back = JSON.parse(JSON.stringify(embedded));
    expect(extractEmbeddedConcepts(back).get(NAME)).toEqual(bytes);
    // As the node sees it: extra_pnginfo = { workflow }.
    expect(findEmbeddedConcept(NAME, { prompt: {}, extraPngInfo: { workflow: back } })).toEqual(bytes);
  });

  it('round-trips through an API prompt (_meta.cones_concept on the Load Concept node)', () => {
    const embedded = embedConcepts(apiPrompt, { [NAME]: bytes }) as any;
    expect(embedded['1']._meta.title).toBe('Load Concept');
    expect(embedded['1']._meta.cones_concept.name).toBe(NAME);
    expect(embedded['2']).toEqual(apiPrompt['2']);
    expect(findEmbeddedConcept(NAME, { prompt: embedded, extraPngInfo: {} })).toEqual(bytes);
    expect(() => embedConcepts(apiPrompt, { 'other.cones.safetensors': bytes })).toThrow(
      /no ConesLoadConcept node/,
    );
  });

  it('fills both halves of a /prompt body', () => {
    const body = { prompt: apiPrompt, extra_data: { extra_pnginfo: { workflow: uiWorkflow } } };
    const embedded = embedConcepts(body, { [NAME]: bytes }) as any;
    expect(embedded.prompt['1']._meta.cones_concept.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(embedded.extra_data.extra_pnginfo.workflow.extra.cones_concepts[NAME].data).toBe(
      Buffer.from(bytes).toString('base64'),
    );
    expect(extractEmbeddedConcepts(embedded).get(NAME)).toEqual(bytes);
  });

  it('survives the PNG workflow chunk as SaveImage writes it', async () => {
    const png = await sharp({ create: { width: 4, height: 4, channels: 3, background: '#808080' } })
      .png()
      .toBuffer();
    const workflow = embedConcepts(uiWorkflow, { [NAME]: bytes });
    const withText = addPngText(png, {
      prompt: pythonJsonDumps(apiPrompt),
      workflow: pythonJsonDumps(workflow),
    });
    const found = extractEmbeddedConcepts(readPngText(withText));
    expect(decodeConcept(found.get(NAME)!).description.identifier).toBe('sks');
  });

  it('names the concept when its base64 or hash is bad', () => {
    const embedded = embedConcepts(uiWorkflow, { [NAME]: bytes }) as any;
    const badBase64 = structuredClone(embedded);
    badBase64.extra.cones_concepts[NAME].data = 'not base64!!';
    expect(() => extractEmbeddedConcepts(badBase64)).toThrow(EmbeddedConceptError);
    expect(() => extractEmbeddedConcepts(badBase64)).toThrow(
      `embedded concept '${NAME}' is not valid base64`,
    );
    const tampered = structuredClone(embedded);
    const data = Buffer.from(tampered.extra.cones_concepts[NAME].data, 'base64');
    data[data.length - 1] ^= 1;
    tampered.extra.cones_concepts[NAME].data = data.toString('base64');
    expect(() => extractEmbeddedConcepts(tampered)).toThrow(/is corrupted: its data hash to sha256/);
    const malformed = structuredClone(embedded);
    malformed.extra.cones_concepts[NAME] = 'oops';
    expect(() => findEmbeddedConcept(NAME, { extraPngInfo: { workflow: malformed } })).toThrow(/malformed/);
  });

  it('finds nothing in a workflow that carries no concepts', () => {
    expect(extractEmbeddedConcepts(uiWorkflow).size).toBe(0);
    expect(
      findEmbeddedConcept(NAME, { prompt: apiPrompt, extraPngInfo: { workflow: uiWorkflow } }),
    ).toBeUndefined();
  });
});

describe('concepts a run made, carried in what it writes', () => {
  const made = (node: string, recipe: string, key: string, b = bytes) =>
    carriedConcept(producedConceptName(['sks', 'a dog'], key), b, { node, recipe, key });

  it('names made concepts as files and puts them on the node that made them', () => {
    const entry = made('2', 'r1', 'abcdef0123456789');
    expect(entry.name).toBe('sks-a_dog-abcdef012345.cones.safetensors');
    const prompt = embedCarried(apiPrompt, [entry]) as any;
    expect(prompt['2']._meta.cones_concept).toMatchObject({ name: entry.name, recipe: 'r1', key: entry.key });
    expect(prompt['1']._meta).toEqual(apiPrompt['1']._meta);
    const found = findCarried({ prompt }, (e) => e.recipe === 'r1');
    expect(found?.bytes()).toEqual(bytes);
  });

  it("replaces a node's older result in a UI workflow, so a lookup by recipe finds the new one", () => {
    const other = encodeConcept(randomConcept({ seed: 2, density: 0.01 })).bytes;
    const once = embedCarried(uiWorkflow, [made('2', 'r1', 'k-old')]);
    const twice = embedCarried(once, [made('2', 'r1', 'k-new', other)]) as any;
    expect(Object.keys(twice.extra.cones_concepts)).toEqual([made('2', 'r1', 'k-new').name]);
    expect(findCarried({ extraPngInfo: { workflow: twice } }, (e) => e.recipe === 'r1')?.bytes()).toEqual(
      other,
    );
  });

  it('gives a node the same recipe under other ids and _meta, another when an ancestor input differs', () => {
    const a = {
      '1': { class_type: 'Photos', inputs: { subject: 'dog' } },
      '2': { class_type: 'Extract', inputs: { images: ['1', 0], steps: 4 }, _meta: { title: 'x' } },
    };
    const b = {
      '7': { class_type: 'Photos', inputs: { subject: 'dog' } },
      '9': { class_type: 'Extract', inputs: { steps: 4, images: ['7', 0] } },
    };
    expect(nodeRecipe(a, '2')).toBe(nodeRecipe(b, '9'));
    expect(nodeRecipe({ ...a, '1': { class_type: 'Photos', inputs: { subject: 'cat' } } }, '2')).not.toBe(
      nodeRecipe(a, '2'),
    );
  });

  it('leaves out of a recipe the inputs that mean the same as their absence, also on ancestors', () => {
    const prompt = (extractInputs: Record<string, unknown>) => ({
      '1': { class_type: 'Photos', inputs: { subject: 'dog' } },
      '2': { class_type: 'Extract', inputs: { images: ['1', 0], steps: 4, ...extractInputs } },
      '3': { class_type: 'Apply', inputs: { concept: ['2', 0], strength: 1 } },
    });
    const sameAsAbsent = { Extract: { rounds: 1 } };
    for (const id of ['2', '3']) {
      const before = nodeRecipe(prompt({}), id, sameAsAbsent);
      expect(nodeRecipe(prompt({ rounds: 1 }), id, sameAsAbsent)).toBe(before);
      expect(nodeRecipe(prompt({ rounds: 2 }), id, sameAsAbsent)).not.toBe(before);
      expect(nodeRecipe(prompt({ rounds: 1 }), id)).not.toBe(nodeRecipe(prompt({}), id));
    }
    // Only on the class it is listed for.
    const other = { '9': { class_type: 'Other', inputs: { rounds: 1 } } };
    expect(nodeRecipe(other, '9', sameAsAbsent)).not.toBe(
      nodeRecipe({ '9': { class_type: 'Other', inputs: {} } }, '9', sameAsAbsent),
    );
  });
});
