import { readdirSync, readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { assetPath } from '../../src/assets.js';

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
