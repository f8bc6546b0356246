/**
 * Issue #8 item 3: the UI-format examples (what a person opens in the ComfyUI front end) are the API
 * examples laid out for reading. They must convert, with the engine's own UI → API converter, to exactly
 * the API example; no two nodes may overlap; every node sits in a titled group with a Note; and the
 * committed files are what scripts/make-ui-examples.ts writes.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type ApiExample,
  buildUiWorkflow,
  formatWorkflow,
  GROUP_FONT_SIZE,
  NODE_TITLE_HEIGHT,
} from '../../scripts/ui-examples/build.js';
import { exampleLayouts } from '../../scripts/ui-examples/layouts.js';
import { extractEmbeddedConcepts } from '../../src/cones/embed.js';
import { type UiWorkflow, uiWorkflowToApiPrompt, widgetSlots } from '../../src/engine/ui-workflow.js';
import { createNodeRegistry } from '../../src/nodes/index.js';
import { assetPath } from '../../src/shared/assets.js';

const registry = createNodeRegistry();
const dir = join(assetPath('..'), 'examples', 'workflows');
const read = (file: string) => JSON.parse(readFileSync(join(dir, file), 'utf8'));

interface Node {
  id: number;
  type: string;
  title?: string;
  pos: [number, number];
  size: [number, number];
  inputs: Array<{ name: string; type: string; link: number | null }>;
  outputs: Array<{ name: string; type: string; links: number[] | null }>;
  widgets_values: unknown[];
}
interface Group {
  title: string;
  bounding: [number, number, number, number];
  font_size?: number;
}
interface Workflow {
  nodes: Node[];
  links: Array<[number, number, number, number, number, string]>;
  groups: Group[];
  extra: Record<string, unknown>;
  version: number;
  last_node_id: number;
  last_link_id: number;
}

type Box = { left: number; top: number; right: number; bottom: number };
/** What LiteGraph draws for a node: its title bar sits above `pos`. */
const nodeBox = (n: Node): Box => ({
  left: n.pos[0],
  top: n.pos[1] - NODE_TITLE_HEIGHT,
  right: n.pos[0] + n.size[0],
  bottom: n.pos[1] + n.size[1],
});
/** A group's area below its title bar. */
const groupBox = (g: Group): Box => {
  const [x, y, w, h] = g.bounding;
  return { left: x, top: y + (g.font_size ?? GROUP_FONT_SIZE) * 1.4, right: x + w, bottom: y + h };
};
const overlap = (a: Box, b: Box) =>
  a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
const inside = (a: Box, b: Box) =>
  a.left >= b.left && a.right <= b.right && a.top >= b.top && a.bottom <= b.bottom;

/** An API prompt without `_meta` beyond the title (the embedded concept is checked on its own). */
function comparable(
  prompt: Record<string, { class_type: string; inputs: unknown; _meta?: { title?: string } }>,
) {
  return Object.fromEntries(
    Object.entries(prompt).map(([id, n]) => [
      id,
      { class_type: n.class_type, inputs: n.inputs, title: n._meta?.title },
    ]),
  );
}

describe.each(exampleLayouts.map((l) => l.name))('examples/workflows/%s.ui.json', (name) => {
  const ui = read(`${name}.ui.json`) as Workflow;
  const api = read(`${name}.api.json`) as ApiExample;

  it('converts with the engine converter to exactly the API example (same ids and titles)', () => {
    const converted = uiWorkflowToApiPrompt(ui as unknown as UiWorkflow, registry);
    expect(comparable(converted as never)).toEqual(comparable(api));
  });

  it('has a widget value for every widget slot, control_after_generate included', () => {
    for (const node of ui.nodes) {
      const def = registry.get(node.type);
      if (node.type === 'Note') {
        expect(node.widgets_values).toEqual([expect.stringMatching(/\S/)]);
        continue;
      }
      const slots = widgetSlots(def!).reduce((n, s) => n + 1 + s.extraSlots, 0);
      expect(node.widgets_values, `node ${node.id}`).toHaveLength(slots);
    }
  });

  it('keeps the links table and the sockets in agreement (the front end reads both)', () => {
    const byId = new Map(ui.nodes.map((n) => [n.id, n]));
    for (const [id, from, fromSlot, to, toSlot, type] of ui.links) {
      expect(byId.get(to)?.inputs[toSlot], `link ${id}`).toMatchObject({ link: id, type });
      expect(byId.get(from)?.outputs[fromSlot]?.links, `link ${id}`).toContain(id);
      expect(byId.get(from)?.outputs[fromSlot]?.type).toBe(type);
    }
    const linkIds = new Set(ui.links.map((l) => l[0]));
    for (const node of ui.nodes) {
      for (const input of node.inputs) if (input.link !== null) expect(linkIds.has(input.link)).toBe(true);
      for (const output of node.outputs)
        for (const l of output.links ?? []) expect(linkIds.has(l)).toBe(true);
    }
    expect(ui.version).toBe(0.4);
    expect(ui.last_node_id).toBe(Math.max(...ui.nodes.map((n) => n.id)));
    expect(ui.last_link_id).toBe(ui.links.length);
  });

  it('lays nodes out without overlaps, each inside a titled group that also holds a Note', () => {
    for (const [i, a] of ui.nodes.entries())
      for (const b of ui.nodes.slice(i + 1))
        expect(overlap(nodeBox(a), nodeBox(b)), `nodes ${a.id} and ${b.id} overlap`).toBe(false);
    for (const [i, a] of ui.groups.entries())
      for (const b of ui.groups.slice(i + 1))
        expect(overlap(groupBox(a), groupBox(b)), `groups '${a.title}' and '${b.title}'`).toBe(false);
    for (const node of ui.nodes) {
      const group = ui.groups.find((g) => inside(nodeBox(node), groupBox(g)));
      expect(group, `node ${node.id} (${node.type}) is in no group`).toBeDefined();
      expect(group!.title).toMatch(/\S/);
    }
    for (const group of ui.groups) {
      const notes = ui.nodes.filter((n) => n.type === 'Note' && inside(nodeBox(n), groupBox(group)));
      expect(notes, `group '${group.title}' has no Note`).toHaveLength(1);
    }
  });

  it('matches what scripts/make-ui-examples.ts writes (run it after changing an API example)', () => {
    const layout = exampleLayouts.find((l) => l.name === name)!;
    expect(readFileSync(join(dir, `${name}.ui.json`), 'utf8')).toBe(
      formatWorkflow(buildUiWorkflow(layout, api, registry)),
    );
  });
});

describe('the Cones UI examples', () => {
  const cones = exampleLayouts.map((l) => l.name).filter((n) => n.startsWith('cones-'));

  it('cover every Cones API example', () => {
    expect(cones.sort()).toEqual(['cones-embedded-concept', 'cones-single-subject', 'cones-two-subjects']);
  });

  it.each(cones)(
    '%s: Extract Concept keeps its seed ("fixed"), so Queue again does not re-extract',
    (name) => {
      const ui = read(`${name}.ui.json`) as Workflow;
      let seedSlot = 0;
      for (const slot of widgetSlots(registry.get('ConesExtractConcept')!)) {
        if (slot.name === 'seed') break;
        seedSlot += 1 + slot.extraSlots;
      }
      for (const node of ui.nodes.filter((n) => n.type === 'ConesExtractConcept'))
        expect(node.widgets_values[seedSlot + 1]).toBe('fixed');
    },
  );

  it('cones-embedded-concept carries its concept in extra.cones_concepts, as the API file does in _meta', () => {
    const ui = read('cones-embedded-concept.ui.json') as Workflow;
    const fromUi = extractEmbeddedConcepts(ui);
    const fromApi = extractEmbeddedConcepts(read('cones-embedded-concept.api.json'));
    expect([...fromUi.keys()]).toEqual(['examples/zwx_ring.cones.safetensors']);
    expect(fromUi).toEqual(fromApi);
    expect(Object.keys(ui.extra.cones_concepts as object)).toEqual([...fromApi.keys()]);
  });
});
