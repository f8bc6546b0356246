import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { conceptMetadataSchema } from '../../src/cones/metadata-schema.js';
import { resolveDataDirs } from '../../src/engine/data-dirs.js';
import { buildPluginManifest } from '../../src/engine/plugin-manifest.js';
import { isUiWorkflow, uiWorkflowToApiPrompt } from '../../src/engine/ui-workflow.js';
import { createNodeRegistry } from '../../src/nodes/index.js';
import { nativeProtocolSchema } from '../../src/server/native/schema.js';
import { assetPath } from '../../src/shared/assets.js';

const ajv = new Ajv({ strict: false });
const load = (...p: string[]) => JSON.parse(readFileSync(assetPath('..', ...p), 'utf8'));
const promptSchema = ajv.compile(load('schemas', 'prompt.schema.json'));
const workflowSchema = ajv.compile(load('schemas', 'workflow.schema.json'));
const examples = readdirSync(assetPath('..', 'examples', 'workflows')).filter((f) => f.endsWith('.json'));

describe('prompt and workflow schemas', () => {
  it('accept the example workflows of their format', () => {
    expect(examples.length).toBeGreaterThan(0);
    for (const file of examples) {
      const data = load('examples', 'workflows', file);
      const validate = Array.isArray(data.nodes) ? workflowSchema : promptSchema;
      expect(validate(data), `${file}: ${JSON.stringify(validate.errors)}`).toBe(true);
    }
  });

  it('reject malformed documents', () => {
    expect(promptSchema({ '1': { inputs: {} } })).toBe(false); // no class_type
    expect(promptSchema({ '1': { class_type: 'X', inputs: { a: ['1', -1] } } })).toBe(false);
    expect(workflowSchema({ nodes: [{ id: 1 }] })).toBe(false); // no type
    expect(workflowSchema({ nodes: [], links: [[1, 2, 0]] })).toBe(false);
  });
});

/**
 * Each schema file is checked against the TypeScript that writes or reads its documents. A schema
 * added to schemas/ without an entry here fails the first test, so none can drift unnoticed.
 */
const env = { dirs: resolveDataDirs({ dataDir: mkdtempSync(join(tmpdir(), 'cones-schemas-')) }) };
const compile = (schema: object) => new Ajv({ strict: false }).compile(schema);
const schemaChecks: Record<string, (schema: object) => void> = {
  'protocol/native.schema.json': (schema) => {
    expect(schema).toEqual(JSON.parse(JSON.stringify(nativeProtocolSchema)));
  },
  'concept-metadata.schema.json': (schema) => {
    expect(schema).toEqual(JSON.parse(JSON.stringify(conceptMetadataSchema)));
  },
  'node-catalog.schema.json': (schema) => {
    const validate = compile(schema);
    const info = createNodeRegistry().objectInfo(env);
    expect(validate(info), JSON.stringify(validate.errors)).toBe(true);
  },
  'plugin-manifest.schema.json': (schema) => {
    const validate = compile(schema);
    expect(validate(buildPluginManifest()), JSON.stringify(validate.errors)).toBe(true);
  },
  'workflow.schema.json': (schema) => {
    const validate = compile(schema);
    // what the TS reader recognises as a UI workflow, the schema accepts, and the other way round
    for (const file of examples) {
      const data = load('examples', 'workflows', file);
      expect(validate(data), file).toBe(isUiWorkflow(data));
    }
  },
  'prompt.schema.json': (schema) => {
    const validate = compile(schema);
    // the API prompts the TS converter writes from UI workflows are documents of the prompt schema
    const registry = createNodeRegistry();
    const uiExamples = examples.map((f) => load('examples', 'workflows', f)).filter(isUiWorkflow);
    expect(uiExamples.length).toBeGreaterThan(0);
    for (const workflow of uiExamples) {
      const prompt = uiWorkflowToApiPrompt(workflow, registry);
      expect(validate(prompt), JSON.stringify(validate.errors)).toBe(true);
    }
  },
};

describe('schemas/ ↔ TypeScript sources', () => {
  const dir = assetPath('..', 'schemas');
  const files = readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.json'))
    .map((e) => relative(dir, join(e.parentPath, e.name)).split('\\').join('/'))
    .sort();

  it('every schema file has a drift check against its TypeScript source', () => {
    expect(files).toEqual(Object.keys(schemaChecks).sort());
  });

  it.each(files)('%s agrees with its TypeScript source', (file) => {
    schemaChecks[file](load('schemas', ...file.split('/')));
  });
});
