import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { createNodeRegistry } from '../nodes/index.js';
import { DEFAULT_PYTHON_MODULE, type NodeRegistry, PACK_ID } from '../nodes/registry.js';
import type { InputSpec, NodeDefinition } from '../nodes/types.js';
import { assetPath } from '../shared/assets.js';

/**
 * plugin-manifest.json: the pack's description for registries and other tools, derived from the node
 * registry (one source of truth; a test fails when the committed file drifts).
 * Regenerate with `npm run manifest`.
 */

export interface PluginManifest {
  $schema: string;
  id: string;
  version: string;
  displayName: string;
  description: string;
  license: string;
  engines: { node: string };
  python_module: string;
  exampleWorkflows: { dir: string };
  nodes: ManifestNode[];
}

export interface ManifestNode {
  class_type: string;
  display_name: string;
  category: string;
  description: string;
  python_module: string;
  output_node: boolean;
  not_cacheable: boolean;
  inputs: {
    required: Record<string, Record<string, unknown>>;
    optional: Record<string, Record<string, unknown>>;
    hidden: Record<string, string>;
  };
  outputs: Array<{ type: string; name: string; is_list: boolean }>;
}

function manifestInput(spec: InputSpec): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(spec)) {
    if (k === 'options') {
      if (typeof v === 'function') out.dynamic_options = true;
      else out.options = [...(v as string[])];
    } else if (v !== undefined && typeof v !== 'function') out[k] = v;
  }
  return out;
}

function manifestNode(def: NodeDefinition): ManifestNode {
  const section = (s: Record<string, InputSpec> = {}) =>
    Object.fromEntries(Object.entries(s).map(([k, v]) => [k, manifestInput(v)]));
  return {
    class_type: def.name,
    display_name: def.displayName || def.name,
    category: def.category,
    description: def.description,
    python_module: def.pythonModule ?? DEFAULT_PYTHON_MODULE,
    output_node: def.outputNode ?? false,
    not_cacheable: def.notCacheable ?? false,
    inputs: {
      required: section(def.inputs.required),
      optional: section(def.inputs.optional),
      hidden: { ...(def.inputs.hidden ?? {}) },
    },
    outputs: def.outputs.map((o) => ({ type: o.type, name: o.name ?? o.type, is_list: o.isList ?? false })),
  };
}

export function buildPluginManifest(registry: NodeRegistry = createNodeRegistry()): PluginManifest {
  const pkg = JSON.parse(readFileSync(assetPath('..', 'package.json'), 'utf8')) as {
    version: string;
    description: string;
    license: string;
    engines: { node: string };
  };
  return {
    $schema: './schemas/plugin-manifest.schema.json',
    id: PACK_ID,
    version: pkg.version,
    displayName: 'Cones Nodes',
    description: pkg.description,
    license: pkg.license,
    engines: { node: pkg.engines.node },
    python_module: DEFAULT_PYTHON_MODULE,
    exampleWorkflows: { dir: 'examples/workflows' },
    nodes: registry
      .list()
      .map(manifestNode)
      .sort((a, b) => (a.class_type < b.class_type ? -1 : a.class_type > b.class_type ? 1 : 0)), // locale-independent
  };
}

export function pluginManifestPath(): string {
  return assetPath('..', 'plugin-manifest.json');
}

export function renderPluginManifest(manifest: PluginManifest = buildPluginManifest()): string {
  return `${JSON.stringify(manifest, null, 2)}\n`;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const text = renderPluginManifest();
  if (process.argv.includes('--check')) {
    const same =
      JSON.stringify(JSON.parse(readFileSync(pluginManifestPath(), 'utf8'))) ===
      JSON.stringify(JSON.parse(text));
    console.log(
      same ? 'plugin-manifest.json is up to date' : 'plugin-manifest.json differs from the registry',
    );
    process.exitCode = same ? 0 : 1;
  } else {
    writeFileSync(pluginManifestPath(), text);
    console.log(`wrote ${pluginManifestPath()}`);
  }
}
