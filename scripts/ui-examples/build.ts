/**
 * Builds a UI-format workflow (what the ComfyUI front end saves, schema 0.4) from an API-format example
 * and a layout table, so the front end shows a readable graph instead of auto-arranging an API prompt.
 *
 * The layout is columns of groups (left → right), each group a stack of its own node columns under a Note.
 * Node ids stay the API ids, so errors from `cones-nodes run` name the same nodes in both files.
 * widgets_values follow the node's inputs in /object_info order, with the hidden slots the front end adds
 * (`control_after_generate` after seed-like INTs, the upload button after image combos): the same
 * `widgetSlots` the engine's UI → API converter reads them with.
 */
import { createHash } from 'node:crypto';
import { widgetSlots } from '../../src/engine/ui-workflow.js';
import type { NodeRegistry } from '../../src/nodes/registry.js';
import type { InputSpec, NodeDefinition } from '../../src/nodes/types.js';

export interface GroupLayout {
  title: string;
  /** LiteGraph group colour. */
  color: string;
  /** Plain-language Note shown at the top of the group. */
  note: string;
  /** Node ids (as in the API file) in columns, left → right, each column top → bottom. */
  columns: string[][];
}

export interface ExampleLayout {
  /** Base name: examples/workflows/<name>.api.json → <name>.ui.json. */
  name: string;
  /** Columns of groups, left → right, each column a stack of groups top → bottom. */
  groups: GroupLayout[][];
  /** Node sizes that differ from the per-class table. */
  sizes?: Record<string, [number, number]>;
}

interface ApiNode {
  class_type: string;
  inputs: Record<string, unknown>;
  _meta?: { title?: string; cones_concept?: { name: string; [field: string]: unknown } };
}
export type ApiExample = Record<string, ApiNode>;

type Json = Record<string, unknown>;
type Rect = { x: number; y: number; w: number; h: number };

/** LiteGraph draws a node's title bar above `pos`; groups draw theirs inside `bounding`. */
export const NODE_TITLE_HEIGHT = 30;
export const GROUP_FONT_SIZE = 24;
const GROUP_TITLE_HEIGHT = Math.ceil(GROUP_FONT_SIZE * 1.4);
const GROUP_PADDING = 20;
const GROUP_GAP = 70;
const COLUMN_GAP = 60;
const ROW_GAP = 30;
const NOTE_MIN_WIDTH = 400;
const SLOT_HEIGHT = 20;
const WIDGET_HEIGHT = 24;
const MULTILINE_HEIGHT = 90;
/** Viewport the initial view (`extra.ds`) fits the whole graph into. */
const VIEW = { width: 1600, height: 850, margin: 40 };

/** Sizes that leave room for what a node shows: image previews, the Concept Info chart, long combos. */
const CLASS_SIZES: Record<string, [number, number]> = {
  CheckpointLoaderSimple: [320, 100],
  CLIPTextEncode: [400, 150],
  EmptyLatentImage: [320, 110],
  KSampler: [320, 270],
  VAEDecode: [210, 50],
  SaveImage: [340, 380],
  ConesLoadSubjectImages: [320, 90],
  ConesExtractConcept: [360, 0],
  ConesApplyConceptMask: [320, 0],
  ConesSaveConcept: [340, 0],
  ConesLoadConcept: [380, 0],
  ConesMergeConcepts: [340, 0],
  ConesConceptInfo: [520, 420],
};
const NOTE_COLOR = { color: '#432', bgcolor: '#653' };

const isLink = (v: unknown): v is [string, number] =>
  Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && typeof v[1] === 'number';

function allInputs(def: NodeDefinition): Array<[string, InputSpec]> {
  return [...Object.entries(def.inputs.required), ...Object.entries(def.inputs.optional ?? {})];
}

/** The inputs the front end draws as sockets (everything that is not a widget). */
function socketInputs(def: NodeDefinition): Array<[string, InputSpec]> {
  const widgets = new Set(widgetSlots(def).map((s) => s.name));
  return allInputs(def).filter(([name]) => !widgets.has(name));
}

/** At least what LiteGraph needs for the sockets and widgets, so nothing spills out of the node. */
function minimumHeight(def: NodeDefinition): number {
  const slots = Math.max(socketInputs(def).length, def.outputs.length) * SLOT_HEIGHT;
  const specs = new Map(allInputs(def));
  let widgets = 0;
  for (const slot of widgetSlots(def)) {
    const spec = specs.get(slot.name) as { multiline?: boolean };
    widgets += (spec.multiline ? MULTILINE_HEIGHT : WIDGET_HEIGHT) + slot.extraSlots * WIDGET_HEIGHT;
  }
  return slots + widgets + 16;
}

/** Height of a Note that shows `text` without scrolling (about 7 px per character, 18 px lines). */
function noteHeight(text: string, width: number): number {
  const perLine = Math.floor((width - 20) / 7);
  const lines = text.split('\n').reduce((n, line) => n + Math.max(1, Math.ceil(line.length / perLine)), 0);
  return lines * 18 + 24;
}

/** A stable UUID-shaped workflow id, so regenerating gives the same file. */
function stableId(name: string): string {
  const h = createHash('sha256').update(`cones-nodes example ${name}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function definition(registry: NodeRegistry, id: string, node: ApiNode): NodeDefinition {
  const def = registry.get(node.class_type);
  if (!def) throw new Error(`node ${id}: unknown class ${node.class_type}`);
  return def;
}

function widgetValues(id: string, node: ApiNode, def: NodeDefinition): unknown[] {
  const specs = new Map(allInputs(def));
  const values: unknown[] = [];
  for (const slot of widgetSlots(def)) {
    const value = node.inputs[slot.name];
    if (value === undefined || isLink(value))
      throw new Error(`node ${id}: widget input '${slot.name}' needs a literal value in the API example`);
    values.push(value);
    const spec = specs.get(slot.name) as {
      type: string;
      controlAfterGenerate?: boolean;
      imageUpload?: boolean;
    };
    // Examples are meant to reproduce: "fixed" also keeps a cached extraction from running again.
    const controls = spec.type === 'INT' ? slot.extraSlots : spec.controlAfterGenerate ? 1 : 0;
    for (let i = 0; i < controls; i++) values.push('fixed');
    if (spec.type === 'COMBO' && spec.imageUpload) values.push('image');
  }
  return values;
}

interface Placed {
  id: string;
  rect: Rect;
}

interface PlacedGroup {
  layout: GroupLayout;
  width: number;
  height: number;
  note: Rect;
  nodes: Placed[];
}

/** Lays out one group's Note and node columns relative to the group's top-left corner. */
function layoutGroup(group: GroupLayout, sizeOf: (id: string) => [number, number]): PlacedGroup {
  const columnWidths = group.columns.map((col) => Math.max(...col.map((id) => sizeOf(id)[0])));
  const columnsWidth = columnWidths.reduce((a, b) => a + b, 0) + COLUMN_GAP * (group.columns.length - 1);
  const contentWidth = Math.max(columnsWidth, NOTE_MIN_WIDTH);
  const top = GROUP_TITLE_HEIGHT + GROUP_PADDING + NODE_TITLE_HEIGHT;
  const note: Rect = { x: GROUP_PADDING, y: top, w: contentWidth, h: noteHeight(group.note, contentWidth) };
  const nodes: Placed[] = [];
  let x = GROUP_PADDING;
  let bottom = note.y + note.h;
  group.columns.forEach((col, c) => {
    let y = note.y + note.h + ROW_GAP + NODE_TITLE_HEIGHT;
    for (const id of col) {
      const [w, h] = sizeOf(id);
      nodes.push({ id, rect: { x, y, w, h } });
      bottom = Math.max(bottom, y + h);
      y += h + ROW_GAP + NODE_TITLE_HEIGHT;
    }
    x += columnWidths[c] + COLUMN_GAP;
  });
  return {
    layout: group,
    width: contentWidth + 2 * GROUP_PADDING,
    height: bottom + GROUP_PADDING,
    note,
    nodes,
  };
}

/** Kahn's order over the links, ties by id: the `order` the front end would compute. */
function executionOrder(ids: string[], deps: Map<string, Set<string>>): string[] {
  const done = new Set<string>();
  const order: string[] = [];
  while (order.length < ids.length) {
    const next = ids.find((id) => !done.has(id) && [...(deps.get(id) ?? [])].every((d) => done.has(d)));
    if (!next) throw new Error('the example has a cycle');
    done.add(next);
    order.push(next);
  }
  return order;
}

export function buildUiWorkflow(layout: ExampleLayout, api: ApiExample, registry: NodeRegistry): Json {
  const ids = Object.keys(api).sort((a, b) => Number(a) - Number(b));
  const laidOut = layout.groups.flat().flatMap((g) => g.columns.flat());
  const missing = ids.filter((id) => !laidOut.includes(id));
  const unknown = laidOut.filter((id) => !api[id]);
  if (missing.length || unknown.length || new Set(laidOut).size !== laidOut.length)
    throw new Error(
      `${layout.name}: the layout must place every API node once (missing ${missing}, unknown ${unknown})`,
    );

  const defs = new Map(ids.map((id) => [id, definition(registry, id, api[id])]));
  const sizeOf = (id: string): [number, number] => {
    const def = defs.get(id)!;
    const [w, h] = layout.sizes?.[id] ?? CLASS_SIZES[def.name] ?? [320, 0];
    return [w, Math.max(h, minimumHeight(def))];
  };

  // Place the groups: columns left → right, each a stack top → bottom, widths evened per column.
  const rects = new Map<string, Rect>();
  const groups: Json[] = [];
  const notes: Array<{ text: string; rect: Rect }> = [];
  let columnX = 0;
  for (const stack of layout.groups) {
    const placed = stack.map((g) => layoutGroup(g, sizeOf));
    const width = Math.max(...placed.map((g) => g.width));
    let y = 0;
    for (const g of placed) {
      groups.push({
        id: groups.length + 1,
        title: g.layout.title,
        bounding: [columnX, y, width, g.height],
        color: g.layout.color,
        font_size: GROUP_FONT_SIZE,
        flags: {},
      });
      notes.push({ text: g.layout.note, rect: { ...g.note, x: g.note.x + columnX, y: g.note.y + y } });
      for (const n of g.nodes) rects.set(n.id, { ...n.rect, x: n.rect.x + columnX, y: n.rect.y + y });
      y += g.height + GROUP_GAP;
    }
    columnX += width + GROUP_GAP;
  }

  // Links, numbered in node-id order then socket order.
  const links: unknown[][] = [];
  const inputLinks = new Map<string, Array<number | null>>();
  const outputLinks = new Map<string, number[][]>(ids.map((id) => [id, defs.get(id)!.outputs.map(() => [])]));
  const deps = new Map<string, Set<string>>();
  for (const id of ids) {
    const sockets = socketInputs(defs.get(id)!);
    const widgetNames = new Set(widgetSlots(defs.get(id)!).map((s) => s.name));
    for (const [name, value] of Object.entries(api[id].inputs))
      if (isLink(value) && widgetNames.has(name))
        throw new Error(
          `node ${id}: '${name}' is linked; widget inputs converted to sockets are not supported`,
        );
    const slots = sockets.map(([name, spec], slot) => {
      const value = api[id].inputs[name];
      if (value === undefined) return null;
      if (!isLink(value)) throw new Error(`node ${id}: socket input '${name}' must be a link`);
      const [from, fromSlot] = value;
      const out = outputLinks.get(from)?.[fromSlot];
      if (!out) throw new Error(`node ${id}: '${name}' links to a missing output ${from}:${fromSlot}`);
      const linkId = links.length + 1;
      links.push([linkId, Number(from), fromSlot, Number(id), slot, spec.type]);
      out.push(linkId);
      deps.set(id, (deps.get(id) ?? new Set()).add(from));
      return linkId;
    });
    inputLinks.set(id, slots);
  }

  const noteIds = notes.map((_, i) => Number(ids[ids.length - 1]) + 1 + i);
  const order = executionOrder(ids, deps);
  const nodes: Json[] = ids.map((id) => {
    const def = defs.get(id)!;
    const rect = rects.get(id)!;
    const title = api[id]._meta?.title;
    return {
      id: Number(id),
      type: def.name,
      ...(title && title !== def.displayName ? { title } : {}),
      pos: [rect.x, rect.y],
      size: [rect.w, rect.h],
      flags: {},
      order: notes.length + order.indexOf(id),
      mode: 0,
      inputs: socketInputs(def).map(([name, spec], slot) => ({
        name,
        type: spec.type,
        link: inputLinks.get(id)![slot],
      })),
      outputs: def.outputs.map((o, slot) => {
        const linked = outputLinks.get(id)![slot];
        return {
          name: o.name ?? o.type,
          type: o.type,
          links: linked.length ? linked : null,
          slot_index: slot,
        };
      }),
      properties: { 'Node name for S&R': def.name },
      widgets_values: widgetValues(id, api[id], def),
    };
  });
  notes.forEach((note, i) => {
    nodes.push({
      id: noteIds[i],
      type: 'Note',
      pos: [note.rect.x, note.rect.y],
      size: [note.rect.w, note.rect.h],
      flags: {},
      order: i,
      mode: 0,
      inputs: [],
      outputs: [],
      properties: {},
      widgets_values: [note.text],
      ...NOTE_COLOR,
    });
  });

  // A concept the API file carries on a node's _meta goes to extra.cones_concepts (src/cones/embed.ts).
  const concepts: Record<string, Json> = {};
  for (const id of ids) {
    const carried = api[id]._meta?.cones_concept;
    if (carried) {
      const { name, ...entry } = carried;
      concepts[name] = entry;
    }
  }

  const width = columnX - GROUP_GAP;
  const height = Math.max(...groups.map((g) => (g.bounding as number[])[1] + (g.bounding as number[])[3]));
  const scale = Math.min(1, (VIEW.width - 2 * VIEW.margin) / width, (VIEW.height - 2 * VIEW.margin) / height);
  const rounded = (v: number) => Math.round(v * 100) / 100;
  return {
    id: stableId(layout.name),
    revision: 0,
    last_node_id: Math.max(...nodes.map((n) => n.id as number)),
    last_link_id: links.length,
    nodes,
    links,
    groups,
    config: {},
    extra: {
      ds: { scale: rounded(scale), offset: [rounded(VIEW.margin / scale), rounded(VIEW.margin / scale)] },
      ...(Object.keys(concepts).length ? { cones_concepts: concepts } : {}),
    },
    version: 0.4,
  };
}

function inlineJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(inlineJson).join(', ')}]`;
  const entries = Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}: ${inlineJson(v)}`);
  return entries.length ? `{ ${entries.join(', ')} }` : '{}';
}

/** Pretty JSON where any array or object that fits in a line of 100 characters stays on one line. */
export function formatWorkflow(workflow: Json): string {
  const format = (value: unknown, indent: string): string => {
    const inline = inlineJson(value);
    if (value === null || typeof value !== 'object' || indent.length + inline.length <= 100) return inline;
    const inner = `${indent}  `;
    if (Array.isArray(value))
      return `[\n${value.map((v) => inner + format(v, inner)).join(',\n')}\n${indent}]`;
    const entries = Object.entries(value).map(
      ([k, v]) => `${inner}${JSON.stringify(k)}: ${format(v, inner)}`,
    );
    return `{\n${entries.join(',\n')}\n${indent}}`;
  };
  return `${format(workflow, '')}\n`;
}
