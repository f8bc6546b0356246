import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { resolveDataDirs } from '../../src/engine/data-dirs.js';
import {
  buildPluginManifest,
  pluginManifestPath,
  renderPluginManifest,
} from '../../src/engine/plugin-manifest.js';
import { createTestNodes } from '../../src/engine/testing-nodes.js';
import { createNodeRegistry } from '../../src/nodes/index.js';
import { NodeRegistry } from '../../src/nodes/registry.js';
import { assetPath } from '../../src/shared/assets.js';

const env = { dirs: resolveDataDirs({ dataDir: mkdtempSync(join(tmpdir(), 'cones-registry-')) }) };
const schema = (name: string) => JSON.parse(readFileSync(assetPath('..', 'schemas', name), 'utf8'));

describe('NodeRegistry → /object_info', () => {
  it('writes ImageScale exactly in ComfyUI’s shape (legacy list-first combos, input_order)', () => {
    const info = createNodeRegistry().objectInfo(env);
    expect(info.ImageScale).toEqual({
      input: {
        required: {
          image: ['IMAGE'],
          upscale_method: [['nearest-exact', 'bilinear', 'area', 'bicubic', 'lanczos']],
          width: ['INT', { default: 512, min: 0, max: 16384, step: 1 }],
          height: ['INT', { default: 512, min: 0, max: 16384, step: 1 }],
          crop: [['disabled', 'center']],
        },
      },
      input_order: { required: ['image', 'upscale_method', 'width', 'height', 'crop'] },
      is_input_list: false,
      output: ['IMAGE'],
      output_is_list: [false],
      output_name: ['IMAGE'],
      name: 'ImageScale',
      display_name: 'Upscale Image',
      description: '',
      python_module: 'nodes',
      category: 'image/upscaling',
      output_node: false,
      has_intermediate_output: false,
      api_node: false,
      search_aliases: [],
    });
  });

  it('lists input images (subfolders included) for LoadImage with the upload widget', () => {
    mkdirSync(join(env.dirs.input, 'pasted'), { recursive: true });
    writeFileSync(join(env.dirs.input, 'b.png'), '');
    writeFileSync(join(env.dirs.input, 'pasted', 'a.jpg'), '');
    writeFileSync(join(env.dirs.input, 'notes.txt'), '');
    const info = createNodeRegistry().objectInfo(env);
    expect(info.LoadImage.input.required.image).toEqual([['b.png', 'pasted/a.jpg'], { image_upload: true }]);
    expect(info.LoadImage.output).toEqual(['IMAGE', 'MASK']);
  });

  it('writes hidden inputs, their order, output nodes and tooltips', () => {
    const info = createNodeRegistry().objectInfo(env);
    expect(info.SaveImage.input.hidden).toEqual({ prompt: 'PROMPT', extra_pnginfo: 'EXTRA_PNGINFO' });
    expect(info.SaveImage.input_order).toEqual({
      required: ['images', 'filename_prefix'],
      hidden: ['prompt', 'extra_pnginfo'],
    });
    expect(info.SaveImage.output_node).toBe(true);
    expect(info.SaveImage.input.required.images).toEqual(['IMAGE', { tooltip: 'The images to save.' }]);
    const registry = new NodeRegistry(createTestNodes().nodes);
    const test = registry.objectInfo(env);
    expect(test.TestAdd.python_module).toBe('custom_nodes.cones-nodes');
    expect(test.TestAdd.output_name).toEqual(['sum']);
    expect(test.TestAdd.input.required.a).toEqual(['INT', { default: 0, forceInput: true }]);
    expect(test.TestFail.input_order.optional).toEqual(['value']);
  });

  it('refuses a class registered twice', () => {
    const registry = createNodeRegistry();
    expect(() => registry.register(registry.get('SaveImage')!)).toThrow(/registered twice/);
  });

  it('matches the node-catalog schema', () => {
    const ajv = new Ajv({ strict: false });
    const validate = ajv.compile(schema('node-catalog.schema.json'));
    const info = new NodeRegistry([...createNodeRegistry().list(), ...createTestNodes().nodes]).objectInfo(
      env,
    );
    expect(validate(info), JSON.stringify(validate.errors)).toBe(true);
  });
});

describe('plugin-manifest.json', () => {
  it('is up to date with the registry (run `npm run manifest` after changing nodes)', () => {
    // compared as data, so reformatting the file (biome) is not drift
    expect(JSON.parse(readFileSync(pluginManifestPath(), 'utf8'))).toEqual(
      JSON.parse(renderPluginManifest()),
    );
  });

  it('matches its schema and lists every registered node', () => {
    const ajv = new Ajv({ strict: false });
    const validate = ajv.compile(schema('plugin-manifest.schema.json'));
    const manifest = buildPluginManifest();
    expect(validate(manifest), JSON.stringify(validate.errors)).toBe(true);
    expect(manifest.nodes.map((n) => n.class_type)).toEqual(
      createNodeRegistry()
        .list()
        .map((d) => d.name)
        .sort(),
    );
  });
});

describe('NodeRegistry robustness', () => {
  it('lists an empty combo when its options cannot be computed, instead of failing /object_info', () => {
    const registry = new NodeRegistry([
      {
        name: 'Broken',
        displayName: 'Broken',
        category: 'testing',
        description: '',
        inputs: {
          required: {
            file: {
              type: 'COMBO',
              options: () => {
                throw new Error('EACCES');
              },
            },
          },
        },
        outputs: [],
        async execute() {
          return { outputs: [] };
        },
      },
    ]);
    expect(registry.objectInfo(env).Broken.input.required.file).toEqual([[]]);
  });
});
