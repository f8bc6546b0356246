import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ManifestNode, PluginManifest } from '../../src/engine/plugin-manifest.js';
import { pluginManifestPath } from '../../src/engine/plugin-manifest.js';
import { createNodeRegistry } from '../../src/nodes/index.js';
import type { ObjectInfoEntry } from '../../src/nodes/registry.js';
import { startTestServer, type TestServer } from './helpers.js';

let server: TestServer;
let served: Record<string, ObjectInfoEntry>;
beforeAll(async () => {
  server = await startTestServer();
  served = (await (await fetch(`${server.url}/api/object_info`)).json()) as Record<string, ObjectInfoEntry>;
});
afterAll(async () => {
  await server?.dispose();
});

const registry = createNodeRegistry();
const manifest = JSON.parse(readFileSync(pluginManifestPath(), 'utf8')) as PluginManifest;

describe('node registry ↔ served /object_info ↔ plugin-manifest.json', () => {
  it('serves every registered node exactly as the registry describes it', () => {
    const expected = JSON.parse(JSON.stringify(registry.objectInfo({ dirs: server.dirs })));
    for (const name of Object.keys(expected)) expect(served[name], name).toEqual(expected[name]);
  });

  it('lists in the committed manifest exactly the registered nodes', () => {
    expect(manifest.nodes.map((n) => n.class_type).sort()).toEqual(
      registry
        .list()
        .map((d) => d.name)
        .sort(),
    );
  });

  it('describes each node in the manifest as /object_info does (names, category, inputs, outputs)', () => {
    const view = (n: ManifestNode) => ({
      display_name: n.display_name,
      category: n.category,
      description: n.description,
      python_module: n.python_module,
      output_node: n.output_node,
      required: Object.keys(n.inputs.required),
      optional: Object.keys(n.inputs.optional),
      hidden: n.inputs.hidden,
      output: n.outputs.map((o) => o.type),
      output_name: n.outputs.map((o) => o.name),
      output_is_list: n.outputs.map((o) => o.is_list),
    });
    for (const node of manifest.nodes) {
      const entry = served[node.class_type];
      expect(view(node), node.class_type).toEqual({
        display_name: entry.display_name,
        category: entry.category,
        description: entry.description,
        python_module: entry.python_module,
        output_node: entry.output_node,
        required: entry.input_order.required,
        optional: entry.input_order.optional ?? [],
        hidden: entry.input.hidden ?? {},
        output: entry.output,
        output_name: entry.output_name,
        output_is_list: entry.output_is_list,
      });
    }
  });
});
