import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build, type Options } from 'tsup';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import tsupConfig from '../../tsup.config.js';
import { json, startTestServer, type TestServer } from './helpers.js';

/** The extension built exactly as `npm run build` builds it, into a temp folder. */
async function buildExtension(outDir: string): Promise<void> {
  const web = (tsupConfig as Options[]).find((c) => c.outDir === 'dist/web');
  if (!web) throw new Error('tsup.config.ts has no dist/web build');
  await build({ ...web, outDir, silent: true, config: false, sourcemap: false });
}

const tmp = mkdtempSync(join(tmpdir(), 'cones-web-ext-'));
const extensionDir = join(tmp, 'web');
let server: TestServer;
let plain: TestServer;
beforeAll(async () => {
  await buildExtension(extensionDir);
  server = await startTestServer({ webExtensionDir: extensionDir });
  plain = await startTestServer();
}, 60_000);
afterAll(async () => {
  await server?.dispose();
  await plain?.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

describe('front-end extension routes', () => {
  it('lists the built extension at /extensions and /api/extensions the way ComfyUI lists web folders', async () => {
    for (const prefix of ['', '/api'])
      expect(await json(fetch(`${server.url}${prefix}/extensions`))).toEqual([
        '/extensions/cones-nodes/cones-nodes.js',
      ]);
    expect(await json(fetch(`${plain.url}/api/extensions`))).toEqual([]);
  });

  it('serves the listed file as JavaScript, and nothing outside the extension folder', async () => {
    const res = await fetch(`${server.url}/extensions/cones-nodes/cones-nodes.js`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(await res.text()).toBe(readFileSync(join(extensionDir, 'cones-nodes.js'), 'utf8'));
    writeFileSync(join(tmp, 'secret.js'), 'secret');
    for (const path of ['%2e%2e%2fsecret.js', '..%2Fsecret.js', 'missing.js', 'cones-nodes.ts'])
      expect((await fetch(`${server.url}/extensions/cones-nodes/${path}`)).status, path).toBe(404);
    expect((await fetch(`${plain.url}/extensions/cones-nodes/cones-nodes.js`)).status).toBe(404);
  });
});

describe('GET /cones/concept', () => {
  it('returns a concept file with its SHA-256, under /api too', async () => {
    const folder = join(server.dataDir, 'models', 'concepts', 'sub');
    mkdirSync(folder, { recursive: true });
    const bytes = Buffer.from('not parsed: the route serves the file as it is');
    writeFileSync(join(folder, 'a b.cones.safetensors'), bytes);
    for (const prefix of ['', '/api']) {
      const res = await fetch(
        `${server.url}${prefix}/cones/concept?name=${encodeURIComponent('sub/a b.cones.safetensors')}`,
      );
      expect(res.status).toBe(200);
      expect(Buffer.from(await res.arrayBuffer())).toEqual(bytes);
      expect(res.headers.get('x-cones-sha256')).toBe(createHash('sha256').update(bytes).digest('hex'));
    }
  });

  it('refuses names that are no concept file or leave the concept folders, and answers 404 for missing ones', async () => {
    writeFileSync(join(server.dataDir, 'outside.cones.safetensors'), 'x');
    const status = async (q: string) => (await fetch(`${server.url}/cones/concept${q}`)).status;
    expect(await status('')).toBe(400);
    expect(await status('?name=')).toBe(400);
    expect(await status('?name=model.safetensors')).toBe(400);
    expect(await status('?name=a.cones.safetensors&name=b.cones.safetensors')).toBe(400);
    expect(await status(`?name=${encodeURIComponent('../../outside.cones.safetensors')}`)).toBe(403);
    expect(await status(`?name=${encodeURIComponent('nul\0.cones.safetensors')}`)).toBe(400);
    expect(await status('?name=missing.cones.safetensors')).toBe(404);
  });
});

/**
 * The built module in a stand-in for the front end's `window.comfyAPI` (the front end is third-party,
 * GPL, and not available here): what it registers and how its nodes react. scripts/e2e-frontend-cones.mjs
 * checks the same in real front ends.
 */
describe('the built extension module', () => {
  type Widget = { name: string; value: unknown; options?: Record<string, unknown>; serialize?: boolean };
  class FakeNode {
    widgets: Widget[] = [];
    size: [number, number] = [300, 200];
    constructor(
      readonly comfyClass: string,
      readonly id: number,
    ) {}
    addWidget(type: string, name: string, value: unknown) {
      const w = { type, name, value };
      this.widgets.push(w);
      return w;
    }
    addCustomWidget(w: Widget) {
      this.widgets.push(w);
      return w;
    }
    computeSize(): [number, number] {
      return [320, 260];
    }
    setSize(size: [number, number]) {
      this.size = size;
    }
    setDirtyCanvas() {}
  }

  it('registers cones.nodes: fixed seed control, live loss curve, ui.text shown, concept menu entries, carried concepts offered', async () => {
    const extensions: any[] = [];
    const listeners = new Map<string, (e: { detail: unknown }) => void>();
    const nodes = new Map<number, FakeNode>();
    const app = {
      registerExtension: (e: unknown) => extensions.push(e),
      graph: {
        getNodeById: (id: string | number) => nodes.get(Number(id)),
        extra: {} as Record<string, any>,
        nodes: [] as FakeNode[],
      },
    };
    const api = {
      addEventListener: (type: string, cb: (e: { detail: unknown }) => void) => listeners.set(type, cb),
      fetchApi: (path: string) => fetch(`${server.url}/api${path}`),
    };
    (globalThis as any).comfyAPI = { app: { app }, api: { api } };
    try {
      await import(`${pathToFileURL(join(extensionDir, 'cones-nodes.js')).href}?t=${Date.now()}`);
    } finally {
      delete (globalThis as any).comfyAPI;
    }
    expect(extensions.map((e) => e.name)).toEqual(['cones.nodes']);
    const ext = extensions[0];
    ext.setup(app);
    expect([...listeners.keys()]).toEqual(['cones.loss']);

    class ExtractType extends FakeNode {}
    class InfoType extends FakeNode {}
    class LoadType extends FakeNode {}
    ext.beforeRegisterNodeDef(ExtractType, { name: 'ConesExtractConcept' }, app);
    ext.beforeRegisterNodeDef(InfoType, { name: 'ConesConceptInfo' }, app);
    ext.beforeRegisterNodeDef(LoadType, { name: 'ConesLoadConcept' }, app);

    const extract = new ExtractType('ConesExtractConcept', 3);
    extract.addWidget('number', 'seed', 0);
    extract.addWidget('combo', 'control_after_generate', 'randomize');
    nodes.set(3, extract);
    ext.nodeCreated(extract, app);
    expect(extract.widgets.find((w) => w.name === 'control_after_generate')?.value).toBe('fixed');
    expect(extract.widgets.find((w) => w.name === 'cones_loss_curve')).toMatchObject({ serialize: false });

    const loss = (step: number, value: number, prompt = 'p1', estimate = {}) =>
      listeners.get('cones.loss')!({
        detail: { prompt_id: prompt, node: '3', display_node: '3', step, steps: 3, loss: value, ...estimate },
      });
    loss(1, 0.5);
    loss(2, 0.25);
    const curveOf = (globalThis as any).conesNodes.curveOf;
    expect(curveOf(extract)).toEqual({
      promptId: 'p1',
      steps: 3,
      losses: [
        [1, 0.5],
        [2, 0.25],
      ],
    });
    loss(1, 0.9, 'p2');
    expect(curveOf(extract).losses).toEqual([[1, 0.9]]);
    // From the second step on the server's estimate comes along; the curve shows the time left under it.
    loss(2, 0.7, 'p2', { step_s: 30, eta_s: 7800 });
    expect(curveOf(extract)).toMatchObject({ stepSeconds: 30, etaSeconds: 7800 });
    // The curve widget draws on a canvas context without throwing, before and after data.
    const calls: string[] = [];
    const ctx = new Proxy(
      {},
      {
        get: (_t, key) =>
          key === 'measureText'
            ? () => ({ width: 10 })
            : (...args: unknown[]) => calls.push(key === 'fillText' ? `fillText ${args[0]}` : String(key)),
        set: () => true,
      },
    );
    const curve = extract.widgets.find((w) => w.name === 'cones_loss_curve') as any;
    curve.draw(ctx, extract, 300, 100, 20);
    expect(calls).toContain('lineTo');
    expect(calls).toContain('fillText ≈ 2 h 10 min left (30 s per step)');

    const info = new InfoType('ConesConceptInfo', 4);
    (info as any).onExecuted({ text: ['concept sks ball', '12 neurons'] });
    const text = info.widgets.find((w) => w.name === 'cones_text')!;
    expect(text.value).toBe('concept sks ball\n12 neurons');
    expect(text.options?.serialize).toBe(false);

    // Context menu: embed the file a Load Concept names, then strip it.
    const folder = join(server.dataDir, 'models', 'concepts');
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, 'menu.cones.safetensors'), 'concept bytes');
    const load = new LoadType('ConesLoadConcept', 5);
    load.addWidget('combo', 'concept_name', 'menu.cones.safetensors');
    app.graph.nodes.push(load, extract);
    const options: any[] = [];
    (load as any).getExtraMenuOptions({}, options);
    const entry = (label: string) => options.find((o) => o?.content === label);
    entry('Embed concepts in workflow').callback();
    await expect
      .poll(() => app.graph.extra.cones_concepts)
      .toEqual({
        'menu.cones.safetensors': {
          sha256: createHash('sha256').update('concept bytes').digest('hex'),
          data: Buffer.from('concept bytes').toString('base64'),
        },
      });
    entry('Strip concepts from workflow').callback();
    expect(app.graph.extra).not.toHaveProperty('cones_concepts');

    // A loaded workflow carrying a concept by value: its Load Concept lists that name even where the server
    // has no such file (current front ends otherwise mark the node "missing a required model file").
    const definitionList = ['menu.cones.safetensors'];
    app.graph.extra.cones_concepts = { 'carried.cones.safetensors': { sha256: 'ab', data: 'eA==' } };
    const carried = new LoadType('ConesLoadConcept', 6);
    carried.widgets.push({
      name: 'concept_name',
      value: 'carried.cones.safetensors',
      options: { values: definitionList },
    });
    const other = new LoadType('ConesLoadConcept', 7);
    other.widgets.push({
      name: 'concept_name',
      value: 'gone.cones.safetensors',
      options: { values: definitionList },
    });
    ext.loadedGraphNode(carried, app);
    ext.loadedGraphNode(other, app);
    expect(carried.widgets[0].options?.values).toEqual([
      'menu.cones.safetensors',
      'carried.cones.safetensors',
    ]);
    expect(other.widgets[0].options?.values).toBe(definitionList);
    expect(definitionList).toEqual(['menu.cones.safetensors']);
  });
});
