import type { ComboInput, InputSpec, NodeDefinition, NodeEnvironment } from './types.js';

/** The pack name as ComfyUI front ends show it (`python_module: custom_nodes.<pack>`). */
export const PACK_ID = 'cones-nodes';
export const DEFAULT_PYTHON_MODULE = `custom_nodes.${PACK_ID}`;

/** A widget or socket spec in `/object_info` form: `[type | options-list, options?]`. */
export type ObjectInfoInput = [unknown] | [unknown, Record<string, unknown>];

export interface ObjectInfoEntry {
  input: {
    required: Record<string, ObjectInfoInput>;
    optional?: Record<string, ObjectInfoInput>;
    hidden?: Record<string, string>;
  };
  input_order: { required: string[]; optional?: string[]; hidden?: string[] };
  is_input_list: boolean;
  output: string[];
  output_is_list: boolean[];
  output_name: string[];
  output_tooltips?: string[];
  name: string;
  display_name: string;
  description: string;
  python_module: string;
  category: string;
  output_node: boolean;
  has_intermediate_output: boolean;
  api_node: boolean;
  search_aliases: string[];
}

/** Names of hidden inputs as ComfyUI spells them in INPUT_TYPES (`prompt`, `extra_pnginfo`, `unique_id`). */
export function comboOptions(spec: ComboInput, env: NodeEnvironment): string[] {
  return typeof spec.options === 'function' ? spec.options(env) : [...spec.options];
}

function dropUndefined(o: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out;
}

/** One input in `/object_info` form (legacy list-first combos, as SDK helpers read `input.required.x[0]`). */
export function objectInfoInput(spec: InputSpec, env: NodeEnvironment): ObjectInfoInput {
  const base = {
    tooltip: spec.tooltip,
    display_name: spec.displayName,
    forceInput: spec.forceInput,
    advanced: spec.advanced,
  };
  let head: unknown = spec.type;
  let options: Record<string, unknown>;
  switch (spec.type) {
    case 'INT': {
      const s = spec as Extract<InputSpec, { type: 'INT' }>;
      options = {
        default: s.default,
        min: s.min,
        max: s.max,
        step: s.step,
        display: s.display,
        control_after_generate: s.controlAfterGenerate,
        ...base,
      };
      break;
    }
    case 'FLOAT': {
      const s = spec as Extract<InputSpec, { type: 'FLOAT' }>;
      options = {
        default: s.default,
        min: s.min,
        max: s.max,
        step: s.step,
        round: s.round,
        display: s.display,
        ...base,
      };
      break;
    }
    case 'STRING': {
      const s = spec as Extract<InputSpec, { type: 'STRING' }>;
      options = {
        default: s.default,
        multiline: s.multiline,
        dynamicPrompts: s.dynamicPrompts,
        placeholder: s.placeholder,
        ...base,
      };
      break;
    }
    case 'BOOLEAN': {
      const s = spec as Extract<InputSpec, { type: 'BOOLEAN' }>;
      options = { default: s.default, label_on: s.labelOn, label_off: s.labelOff, ...base };
      break;
    }
    case 'COMBO': {
      const s = spec as ComboInput;
      try {
        head = comboOptions(s, env);
      } catch {
        head = []; // a folder that cannot be listed must not break /object_info for every node
      }
      options = {
        default: s.default,
        image_upload: s.imageUpload,
        image_folder: s.imageFolder,
        control_after_generate: s.controlAfterGenerate,
        ...base,
      };
      break;
    }
    default:
      options = base;
  }
  const clean = dropUndefined(options);
  return Object.keys(clean).length > 0 ? [head, clean] : [head];
}

/** Node definitions by class name; derives `/object_info`. Families register themselves in nodes/index.ts. */
export class NodeRegistry {
  private readonly defs = new Map<string, NodeDefinition>();

  constructor(defs: Iterable<NodeDefinition> = []) {
    this.register(...defs);
  }

  register(...defs: NodeDefinition[]): this {
    for (const def of defs) {
      if (this.defs.has(def.name)) throw new Error(`node class '${def.name}' is registered twice`);
      this.defs.set(def.name, def);
    }
    return this;
  }

  get(name: string): NodeDefinition | undefined {
    return this.defs.get(name);
  }

  has(name: string): boolean {
    return this.defs.has(name);
  }

  list(): NodeDefinition[] {
    return [...this.defs.values()];
  }

  objectInfoEntry(def: NodeDefinition, env: NodeEnvironment): ObjectInfoEntry {
    const section = (inputs: Record<string, InputSpec>) =>
      Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, objectInfoInput(v, env)]));
    const { required, optional, hidden } = def.inputs;
    const entry: ObjectInfoEntry = {
      input: { required: section(required) },
      input_order: { required: Object.keys(required) },
      is_input_list: false,
      output: def.outputs.map((o) => o.type),
      output_is_list: def.outputs.map((o) => o.isList ?? false),
      output_name: def.outputs.map((o) => o.name ?? o.type),
      name: def.name,
      display_name: def.displayName || def.name,
      description: def.description ?? '',
      python_module: def.pythonModule ?? DEFAULT_PYTHON_MODULE,
      category: def.category || 'sd',
      output_node: def.outputNode ?? false,
      has_intermediate_output: false,
      api_node: false,
      search_aliases: def.searchAliases ?? [],
    };
    if (optional && Object.keys(optional).length > 0) {
      entry.input.optional = section(optional);
      entry.input_order.optional = Object.keys(optional);
    }
    if (hidden && Object.keys(hidden).length > 0) {
      entry.input.hidden = { ...hidden };
      entry.input_order.hidden = Object.keys(hidden);
    }
    if (def.outputs.some((o) => o.tooltip)) entry.output_tooltips = def.outputs.map((o) => o.tooltip ?? '');
    return entry;
  }

  /** The `/object_info` body; combo options that list files are read now. */
  objectInfo(env: NodeEnvironment): Record<string, ObjectInfoEntry> {
    const out: Record<string, ObjectInfoEntry> = {};
    for (const def of this.defs.values()) out[def.name] = this.objectInfoEntry(def, env);
    return out;
  }
}
