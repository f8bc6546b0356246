import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveDataDirs } from '../../src/engine/data-dirs.js';
import type { ApiPrompt } from '../../src/engine/service-types.js';
import { createTestNodes } from '../../src/engine/testing-nodes.js';
import { type ValidationResult, validatePrompt } from '../../src/engine/validate.js';
import { createNodeRegistry } from '../../src/nodes/index.js';

const registry = createNodeRegistry(createTestNodes().nodes);
const env = { dirs: resolveDataDirs({ dataDir: mkdtempSync(join(tmpdir(), 'cones-validate-')) }) };

const choice = (inputs: Record<string, unknown>) => ({
  class_type: 'TestChoice',
  inputs: { mode: 'alpha', ratio: 0.5, label: 'x', flag: true, ...inputs },
});

async function failing(
  prompt: unknown,
  targets?: string[],
): Promise<Extract<ValidationResult, { ok: false }>> {
  const r = await validatePrompt(prompt, registry, env, targets);
  if (r.ok) throw new Error('expected validation to fail');
  return r;
}

/** The single error of node `id` (the per-node error list ComfyUI returns). */
async function nodeError(prompt: ApiPrompt, id: string) {
  const r = await failing(prompt);
  expect(r.error.type).toBe('prompt_outputs_failed_validation');
  expect(r.error.message).toBe('Prompt outputs failed validation');
  const node = r.nodeErrors[id];
  expect(node).toBeDefined();
  expect(node.errors).toHaveLength(1);
  const e = node.errors[0];
  expect(Object.keys(e).sort()).toEqual(['details', 'extra_info', 'message', 'type']);
  expect(r.error.details).toContain(`${e.message}: ${e.details}`);
  return { error: e, node, result: r };
}

describe('validatePrompt', () => {
  it('accepts a valid prompt, coerces widget strings and unwraps __value__', async () => {
    const r = await validatePrompt(
      {
        '1': { class_type: 'TestConstant', inputs: { value: '7' } },
        '2': { class_type: 'TestOutput', inputs: { value: ['1', 0] } },
        '3': choice({ ratio: '0.25', flag: 'false', label: { __value__: 'wrapped' } }),
      },
      registry,
      env,
    );
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.outputs.sort()).toEqual(['2', '3']);
    expect(r.prompt['1'].inputs.value).toBe(7);
    expect(r.prompt['3'].inputs).toMatchObject({ ratio: 0.25, flag: false, label: 'wrapped' });
    expect(r.nodeErrors).toEqual({});
  });

  it('missing_node_type for an unknown class names the node title', async () => {
    const r = await failing({ '5': { class_type: 'NoSuchNode', inputs: {}, _meta: { title: 'Mystery' } } });
    expect(r.error).toEqual({
      type: 'missing_node_type',
      message: "Node 'Mystery' not found. The custom node may not be installed.",
      details: "Node ID '#5'",
      extra_info: { node_id: '5', class_type: 'NoSuchNode', node_title: 'Mystery' },
    });
    expect(r.nodeErrors).toEqual({});
  });

  it('missing_node_type when class_type is absent', async () => {
    const r = await failing({ '2': { inputs: {} } });
    expect(r.error.type).toBe('missing_node_type');
    expect(r.error.extra_info).toEqual({ node_id: '2', class_type: null, node_title: null });
  });

  it('prompt_no_outputs without output nodes, and when partial targets exclude them', async () => {
    const r = await failing({ '1': { class_type: 'TestConstant', inputs: { value: 1 } } });
    expect(r.error).toEqual({
      type: 'prompt_no_outputs',
      message: 'Prompt has no outputs',
      details: '',
      extra_info: {},
    });
    const p = await failing({ '1': choice({}) }, ['9']);
    expect(p.error.type).toBe('prompt_no_outputs');
  });

  it('no_prompt for a non-object prompt', async () => {
    expect((await failing(null)).error.type).toBe('no_prompt');
  });

  it('required_input_missing', async () => {
    const { error, node } = await nodeError({ '2': { class_type: 'TestOutput', inputs: {} } }, '2');
    expect(error).toEqual({
      type: 'required_input_missing',
      message: 'Required input is missing',
      details: 'value',
      extra_info: { input_name: 'value' },
    });
    expect(node).toMatchObject({ class_type: 'TestOutput', dependent_outputs: ['2'] });
  });

  it('bad_linked_input for a link that is not [id, slot]', async () => {
    const { error } = await nodeError(
      { '2': { class_type: 'TestOutput', inputs: { value: ['1', 0, 3] } } },
      '2',
    );
    expect(error.type).toBe('bad_linked_input');
    expect(error.message).toBe('Bad linked input, must be a length-2 list of [node_id, slot_index]');
    expect(error.extra_info).toMatchObject({ input_name: 'value', received_value: ['1', 0, 3] });
    const missing = await nodeError({ '2': { class_type: 'TestOutput', inputs: { value: ['8', 0] } } }, '2');
    expect(missing.error.type).toBe('bad_linked_input');
  });

  it('return_type_mismatch between linked nodes', async () => {
    const { error } = await nodeError(
      {
        '1': { class_type: 'LoadImage', inputs: { image: 'x.png' } },
        '2': { class_type: 'TestOutput', inputs: { value: ['1', 0] } },
      },
      '2',
    );
    expect(error).toMatchObject({
      type: 'return_type_mismatch',
      message: 'Return type mismatch between linked nodes',
      details: 'value, received_type(IMAGE) mismatch input_type(INT)',
      extra_info: { input_name: 'value', received_type: 'IMAGE', linked_node: ['1', 0] },
    });
  });

  it('invalid_input_type when a widget value cannot be converted', async () => {
    const { error } = await nodeError({ '1': choice({ ratio: 'abc' }) }, '1');
    expect(error.type).toBe('invalid_input_type');
    expect(error.message).toBe('Failed to convert an input value to a FLOAT value');
    expect(error.details).toBe("ratio, 'abc', could not convert string to float: 'abc'");
    expect(error.extra_info).toMatchObject({ input_name: 'ratio', received_value: 'abc' });
    expect(error.extra_info.input_config).toEqual(['FLOAT', { default: 0.5, min: 0, max: 1, step: 0.01 }]);
  });

  it('value_smaller_than_min and value_bigger_than_max', async () => {
    const small = await nodeError({ '1': choice({ ratio: -0.5 }) }, '1');
    expect(small.error).toMatchObject({
      type: 'value_smaller_than_min',
      message: 'Value -0.5 smaller than min of 0.0',
      details: 'ratio',
      extra_info: { input_name: 'ratio', received_value: -0.5 },
    });
    const big = await nodeError(
      {
        '1': { class_type: 'TestConstant', inputs: { value: 5000 } },
        '2': { class_type: 'TestOutput', inputs: { value: ['1', 0] } },
      },
      '1',
    );
    expect(big.error).toMatchObject({
      type: 'value_bigger_than_max',
      message: 'Value 5000 bigger than max of 1000',
      details: 'value',
    });
    expect(big.node.dependent_outputs).toEqual(['2']);
    expect(big.result.nodeErrors['2']).toBeUndefined(); // downstream nodes are not listed
  });

  it('value_not_in_list for a combo', async () => {
    const { error } = await nodeError({ '1': choice({ mode: 'gamma' }) }, '1');
    expect(error).toMatchObject({
      type: 'value_not_in_list',
      message: 'Value not in list',
      details: "mode: 'gamma' not in ['alpha', 'beta']",
      extra_info: { input_name: 'mode', received_value: 'gamma', input_config: [['alpha', 'beta'], {}] },
    });
  });

  it('dependency_cycle', async () => {
    const r = await failing({
      '1': { class_type: 'TestAdd', inputs: { a: ['2', 0], b: 1 } },
      '2': { class_type: 'TestAdd', inputs: { a: ['1', 0], b: 1 } },
      '3': { class_type: 'TestOutput', inputs: { value: ['2', 0] } },
    });
    const errors = Object.values(r.nodeErrors).flatMap((n) => n.errors);
    const cycle = errors.find((e) => e.type === 'dependency_cycle');
    expect(cycle).toBeDefined();
    expect(cycle?.message).toBe('Dependency cycle detected');
    expect(cycle?.extra_info.cycle_nodes).toEqual(['2', '1']);
  });

  it('custom_validation_failed from a node validate()', async () => {
    const { error } = await nodeError({ '1': choice({ label: 'forbidden' }) }, '1');
    expect(error).toMatchObject({
      type: 'custom_validation_failed',
      message: 'Custom validation failed for node',
      details: 'TestChoice - label must not be "forbidden"',
    });
    const load = await nodeError(
      {
        '1': { class_type: 'LoadImage', inputs: { image: 'missing.png' } },
        '2': { class_type: 'PreviewImage', inputs: { images: ['1', 0] } },
      },
      '1',
    );
    expect(load.error.type).toBe('custom_validation_failed');
    expect(load.error.details).toBe('LoadImage - Invalid image file: missing.png');
  });

  it('keeps valid outputs and reports the invalid ones in node_errors', async () => {
    const r = await validatePrompt({ '1': choice({}), '2': choice({ mode: 'nope' }) }, registry, env);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.outputs).toEqual(['1']);
    expect(r.nodeErrors['2'].errors[0].type).toBe('value_not_in_list');
  });

  it('partial_execution_targets restricts the outputs', async () => {
    const r = await validatePrompt({ '1': choice({}), '2': choice({ mode: 'nope' }) }, registry, env, ['1']);
    expect(r.ok && r.outputs).toEqual(['1']);
    expect(r.ok && r.nodeErrors).toEqual({});
  });

  it('does not modify the caller’s prompt', async () => {
    const prompt = { '1': choice({ ratio: '0.5' }) };
    await validatePrompt(prompt, registry, env);
    expect(prompt['1'].inputs.ratio).toBe('0.5');
  });
});
