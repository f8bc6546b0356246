import { describe, expect, it } from 'vitest';
import {
  isApiPrompt,
  isUiWorkflow,
  type UiWorkflow,
  uiWorkflowToApiPrompt,
} from '../../src/engine/ui-workflow.js';
import { createNodeRegistry } from '../../src/nodes/index.js';
import type { NodeDefinition } from '../../src/nodes/types.js';

const sampler: NodeDefinition = {
  name: 'FakeSampler',
  displayName: 'Fake Sampler',
  category: 'testing',
  description: '',
  inputs: {
    required: {
      image: { type: 'IMAGE' },
      seed: { type: 'INT', default: 0, min: 0, max: 2 ** 53 },
      steps: { type: 'INT', default: 20, min: 1, max: 100 },
      noise: { type: 'INT', default: 0, controlAfterGenerate: true },
      sampler_name: { type: 'COMBO', options: ['euler', 'ddim'] },
      strength: { type: 'FLOAT', default: 1, forceInput: true },
    },
    optional: { note: { type: 'STRING', default: '' } },
  },
  outputs: [{ type: 'IMAGE' }],
  async execute(inputs) {
    return { outputs: [inputs.image] };
  },
};
const registry = createNodeRegistry([sampler]);

const node = (id: number, type: string, extra: Partial<UiWorkflow['nodes'][number]> = {}) => ({
  id,
  type,
  mode: 0,
  inputs: [],
  outputs: [],
  ...extra,
});

describe('uiWorkflowToApiPrompt', () => {
  it('maps positional widgets_values past control_after_generate and upload slots, and links', () => {
    const wf: UiWorkflow = {
      nodes: [
        node(1, 'LoadImage', { widgets_values: ['cat.png', 'image'], title: 'My image' }),
        node(2, 'FakeSampler', {
          inputs: [{ name: 'image', type: 'IMAGE', link: 1 }],
          widgets_values: [42, 'randomize', 30, 7, 'fixed', 'ddim', 'hello'],
        }),
        node(3, 'SaveImage', {
          inputs: [{ name: 'images', type: 'IMAGE', link: 2 }],
          widgets_values: ['out'],
        }),
      ],
      links: [
        [1, 1, 0, 2, 0, 'IMAGE'],
        [2, 2, 0, 3, 0, 'IMAGE'],
      ],
    };
    expect(uiWorkflowToApiPrompt(wf, registry)).toEqual({
      '1': { class_type: 'LoadImage', inputs: { image: 'cat.png' }, _meta: { title: 'My image' } },
      '2': {
        class_type: 'FakeSampler',
        inputs: { image: ['1', 0], seed: 42, steps: 30, noise: 7, sampler_name: 'ddim', note: 'hello' },
        _meta: { title: 'Fake Sampler' },
      },
      '3': {
        class_type: 'SaveImage',
        inputs: { images: ['2', 0], filename_prefix: 'out' },
        _meta: { title: 'Save Image' },
      },
    });
  });

  it('reads schema-1 link objects, widget values keyed by name, reroutes and primitives', () => {
    const wf: UiWorkflow = {
      version: 1,
      nodes: [
        node(1, 'LoadImage', { widgets_values: { image: 'dog.png' } }),
        node(5, 'Reroute', { inputs: [{ name: '', type: '*', link: 10 }] }),
        node(6, 'PrimitiveNode', { widgets_values: [640, 'fixed'] }),
        node(2, 'ImageScale', {
          inputs: [
            { name: 'image', type: 'IMAGE', link: 11 },
            { name: 'width', type: 'INT', link: 12, widget: { name: 'width' } },
          ],
          widgets_values: ['area', 512, 480, 'center'],
        }),
        node(3, 'PreviewImage', { inputs: [{ name: 'images', type: 'IMAGE', link: 13 }] }),
        node(7, 'Note', { widgets_values: ['just a note'] }),
      ],
      links: [
        { id: 10, origin_id: 1, origin_slot: 0, target_id: 5, target_slot: 0, type: 'IMAGE' },
        { id: 11, origin_id: 5, origin_slot: 0, target_id: 2, target_slot: 0, type: 'IMAGE' },
        { id: 12, origin_id: 6, origin_slot: 0, target_id: 2, target_slot: 1, type: 'INT' },
        { id: 13, origin_id: 2, origin_slot: 0, target_id: 3, target_slot: 0, type: 'IMAGE' },
      ],
    };
    const prompt = uiWorkflowToApiPrompt(wf, registry);
    expect(Object.keys(prompt).sort()).toEqual(['1', '2', '3']);
    expect(prompt['1'].inputs).toEqual({ image: 'dog.png' });
    expect(prompt['2'].inputs).toEqual({
      image: ['1', 0],
      upscale_method: 'area',
      width: 640,
      height: 480,
      crop: 'center',
    });
    expect(prompt['3'].inputs).toEqual({ images: ['2', 0] });
  });

  it('drops muted nodes and passes bypassed nodes through', () => {
    const wf: UiWorkflow = {
      nodes: [
        node(1, 'LoadImage', { widgets_values: ['a.png', 'image'] }),
        node(2, 'ImageScale', {
          mode: 4,
          inputs: [{ name: 'image', type: 'IMAGE', link: 1 }],
          outputs: [{ name: 'IMAGE', type: 'IMAGE', links: [2] }],
          widgets_values: ['area', 1, 1, 'disabled'],
        }),
        node(3, 'SaveImage', { inputs: [{ name: 'images', type: 'IMAGE', link: 2 }], widgets_values: ['x'] }),
        node(4, 'SaveImage', {
          mode: 2,
          inputs: [{ name: 'images', type: 'IMAGE', link: 3 }],
          widgets_values: ['y'],
        }),
      ],
      links: [
        [1, 1, 0, 2, 0, 'IMAGE'],
        [2, 2, 0, 3, 0, 'IMAGE'],
        [3, 1, 0, 4, 0, 'IMAGE'],
      ],
    };
    const prompt = uiWorkflowToApiPrompt(wf, registry);
    expect(Object.keys(prompt).sort()).toEqual(['1', '3']);
    expect(prompt['3'].inputs.images).toEqual(['1', 0]);
  });

  it('follows a chain of 20,000 reroutes (no recursion per hop)', () => {
    const hops = 20_000;
    const nodes: UiWorkflow['nodes'] = [node(1, 'LoadImage', { widgets_values: ['a.png', 'image'] })];
    const links: unknown[][] = [[1, 1, 0, 100, 0, 'IMAGE']];
    for (let i = 0; i < hops; i++) {
      const id = 100 + i;
      nodes.push(node(id, 'Reroute', { inputs: [{ name: '', type: '*', link: i + 1 }] }));
      links.push([i + 2, id, 0, id + 1, 0, 'IMAGE']);
    }
    nodes.push(
      node(100 + hops, 'SaveImage', {
        inputs: [{ name: 'images', type: 'IMAGE', link: hops + 1 }],
        widgets_values: ['x'],
      }),
    );
    const prompt = uiWorkflowToApiPrompt({ nodes, links }, registry);
    expect(Object.keys(prompt)).toEqual(['1', String(100 + hops)]);
    expect(prompt[String(100 + hops)].inputs.images).toEqual(['1', 0]);
  });

  it('keeps nodes whose ids are __proto__ or constructor', () => {
    const wf = JSON.parse(`{
      "nodes": [
        {"id": "__proto__", "type": "LoadImage", "mode": 0, "widgets_values": ["a.png", "image"]},
        {"id": "constructor", "type": "SaveImage", "mode": 0, "widgets_values": ["x"],
         "inputs": [{"name": "images", "type": "IMAGE", "link": 1}]}
      ],
      "links": [[1, "__proto__", 0, "constructor", 0, "IMAGE"]]
    }`) as UiWorkflow;
    const prompt = uiWorkflowToApiPrompt(wf, registry);
    expect(Object.keys(prompt)).toEqual(['__proto__', 'constructor']);
    expect(Object.hasOwn(prompt, '__proto__')).toBe(true);
    const saved = new Map(Object.entries(prompt)).get('constructor');
    expect(saved?.inputs).toEqual({ images: ['__proto__', 0], filename_prefix: 'x' });
  });

  it('refuses subgraphs with a clear message', () => {
    expect(() => uiWorkflowToApiPrompt({ nodes: [], definitions: { subgraphs: [{}] } }, registry)).toThrow(
      /subgraphs are not supported/,
    );
  });

  it('tells the formats apart', () => {
    expect(isUiWorkflow({ nodes: [], links: [] })).toBe(true);
    expect(isApiPrompt({ '1': { class_type: 'X', inputs: {} } })).toBe(true);
    expect(isApiPrompt({ nodes: [] })).toBe(false);
    expect(isApiPrompt({})).toBe(false);
  });
});
