import type { NodeRegistry } from '../nodes/registry.js';
import type { InputSpec, NodeDefinition } from '../nodes/types.js';
import { keyedRecord } from './keyed-record.js';
import type { ApiPrompt } from './service-types.js';

/**
 * UI-format workflow (what the ComfyUI front end saves, schema 0.4 or 1) → API-format prompt, as the
 * front end's graphToPrompt does it: widgets_values are positional in input order, with the hidden
 * `control_after_generate` slot after seed-like INTs (and combos that ask for it) and the upload
 * button's slot after image-upload combos; links come from the links table; muted nodes are dropped,
 * bypassed nodes pass their matching input through, Reroute and PrimitiveNode are resolved, notes
 * are skipped. Subgraphs are not supported (a clear error says so).
 */

export interface UiNode {
  id: number | string;
  type: string;
  mode?: number;
  title?: string;
  inputs?: Array<{ name: string; type?: string; link?: number | null; widget?: { name: string } }>;
  outputs?: Array<{ name?: string; type?: string; links?: number[] | null }>;
  widgets_values?: unknown[] | Record<string, unknown>;
}

export interface UiWorkflow {
  nodes: UiNode[];
  links?: Array<unknown[] | Record<string, unknown>>;
  definitions?: { subgraphs?: unknown[] };
  version?: number;
}

interface Link {
  originId: string;
  originSlot: number;
  targetId: string;
  targetSlot: number;
  type: string;
}

const MODE_MUTED = 2;
const MODE_BYPASS = 4;
const VIRTUAL_TYPES = new Set(['Note', 'MarkdownNote', 'Reroute', 'PrimitiveNode']);
const WIDGET_TYPES = new Set(['INT', 'FLOAT', 'STRING', 'BOOLEAN', 'COMBO']);

export function isUiWorkflow(value: unknown): value is UiWorkflow {
  return !!value && typeof value === 'object' && Array.isArray((value as UiWorkflow).nodes);
}

/** True for `{id: {class_type, inputs}}` objects. */
export function isApiPrompt(value: unknown): value is ApiPrompt {
  if (!value || typeof value !== 'object' || Array.isArray(value) || isUiWorkflow(value)) return false;
  const nodes = Object.values(value as object);
  return nodes.length > 0 && nodes.every((n) => n && typeof n === 'object' && 'class_type' in n);
}

function parseLinks(workflow: UiWorkflow): Map<number, Link> {
  const links = new Map<number, Link>();
  for (const raw of workflow.links ?? []) {
    if (Array.isArray(raw)) {
      const [id, originId, originSlot, targetId, targetSlot, type] = raw;
      links.set(Number(id), {
        originId: String(originId),
        originSlot: Number(originSlot),
        targetId: String(targetId),
        targetSlot: Number(targetSlot),
        type: String(type ?? '*'),
      });
    } else if (raw && typeof raw === 'object') {
      const r = raw as Record<string, unknown>;
      links.set(Number(r.id), {
        originId: String(r.origin_id),
        originSlot: Number(r.origin_slot),
        targetId: String(r.target_id),
        targetSlot: Number(r.target_slot),
        type: String(r.type ?? '*'),
      });
    }
  }
  return links;
}

/** Widget-backed inputs of a definition in widgets_values order, with the hidden slots they add. */
export function widgetSlots(def: NodeDefinition): Array<{ name: string; extraSlots: number }> {
  const slots: Array<{ name: string; extraSlots: number }> = [];
  const all: Array<[string, InputSpec]> = [
    ...Object.entries(def.inputs.required),
    ...Object.entries(def.inputs.optional ?? {}),
  ];
  for (const [name, spec] of all) {
    if (!WIDGET_TYPES.has(spec.type) || spec.forceInput) continue;
    let extra = 0;
    const s = spec as { controlAfterGenerate?: boolean; imageUpload?: boolean };
    if (spec.type === 'INT' && (s.controlAfterGenerate || name === 'seed' || name === 'noise_seed'))
      extra = 1;
    else if (spec.type === 'COMBO' && s.controlAfterGenerate) extra = 1;
    if (spec.type === 'COMBO' && s.imageUpload) extra += 1;
    slots.push({ name, extraSlots: extra });
  }
  return slots;
}

export function uiWorkflowToApiPrompt(workflow: UiWorkflow, registry: NodeRegistry): ApiPrompt {
  if (workflow.definitions?.subgraphs && workflow.definitions.subgraphs.length > 0) {
    throw new Error(
      'workflows with subgraphs are not supported yet: export the API format from the front end',
    );
  }
  const nodes = new Map(workflow.nodes.map((n) => [String(n.id), n]));
  const links = parseLinks(workflow);

  /**
   * Follows a link back through reroutes and bypassed nodes to a real output, or a primitive's value.
   * A loop rather than recursion: a chain of thousands of reroutes must not exhaust the stack.
   */
  const resolve = (start: number): { link: [string, number] } | { value: unknown } | null => {
    const seen = new Set<number>();
    let linkId: number | null | undefined = start;
    while (linkId !== null && linkId !== undefined) {
      const link = links.get(linkId);
      if (!link || seen.has(linkId)) return null;
      seen.add(linkId);
      const origin = nodes.get(link.originId);
      if (!origin || origin.mode === MODE_MUTED) return null;
      if (origin.type === 'Reroute') {
        linkId = origin.inputs?.[0]?.link;
        continue;
      }
      if (origin.type === 'PrimitiveNode') {
        const values = origin.widgets_values;
        return { value: Array.isArray(values) ? values[0] : undefined };
      }
      if (origin.mode === MODE_BYPASS) {
        const outType = origin.outputs?.[link.originSlot]?.type ?? link.type;
        const pass =
          origin.inputs?.find((i) => i.link !== null && i.link !== undefined && i.type === outType) ??
          origin.inputs?.[link.originSlot];
        linkId = pass?.link;
        continue;
      }
      return { link: [link.originId, link.originSlot] };
    }
    return null;
  };

  const prompt: ApiPrompt = keyedRecord();
  for (const node of workflow.nodes) {
    if (node.mode === MODE_MUTED || node.mode === MODE_BYPASS || VIRTUAL_TYPES.has(node.type)) continue;
    const id = String(node.id);
    const def = registry.get(node.type);
    const inputs = keyedRecord<unknown>();
    if (def) {
      const values = node.widgets_values;
      if (Array.isArray(values)) {
        let i = 0;
        for (const slot of widgetSlots(def)) {
          if (i < values.length) inputs[slot.name] = values[i];
          i += 1 + slot.extraSlots;
        }
      } else if (values && typeof values === 'object') {
        for (const slot of widgetSlots(def))
          if (Object.hasOwn(values, slot.name)) inputs[slot.name] = values[slot.name];
      }
    }
    for (const input of node.inputs ?? []) {
      if (input.link === null || input.link === undefined) continue;
      const source = resolve(input.link);
      if (!source) continue;
      const name = input.widget?.name ?? input.name;
      const value = 'link' in source ? source.link : source.value;
      // A literal list would read as a link; ComfyUI's front end wraps it the same way.
      inputs[name] = 'value' in source && Array.isArray(value) ? { __value__: value } : value;
    }
    prompt[id] = {
      class_type: node.type,
      inputs,
      _meta: { title: node.title ?? def?.displayName ?? node.type },
    };
  }
  return prompt;
}
