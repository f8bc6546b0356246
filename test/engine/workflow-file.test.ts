/**
 * Issue #2 item 8: `cones-nodes run` takes an API-format workflow, a UI-format workflow, or a PNG
 * with an embedded workflow — the `prompt` chunk, or only the UI `workflow` chunk (converted like a
 * UI file) — and refuses a PNG without either with a readable message.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { loadWorkflowFile } from '../../src/engine/workflow-file.js';
import { addPngText } from '../../src/image/png-text.js';
import { createNodeRegistry } from '../../src/nodes/index.js';
import { assetPath } from '../../src/shared/assets.js';

const registry = createNodeRegistry();
const dir = mkdtempSync(join(tmpdir(), 'cones-workflow-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const example = (name: string) => join(assetPath('..'), 'examples', 'workflows', name);

async function pngWith(name: string, text: Record<string, string>): Promise<string> {
  const png = await sharp({ create: { width: 2, height: 2, channels: 3, background: '#000' } })
    .png()
    .toBuffer();
  const path = join(dir, name);
  writeFileSync(path, Object.keys(text).length ? addPngText(png, text) : png);
  return path;
}

describe('loadWorkflowFile', () => {
  const uiText = readFileSync(example('image-resize.ui.json'), 'utf8');
  const apiText = readFileSync(example('image-resize.api.json'), 'utf8');

  it('reads API and UI files, and a PNG by its prompt chunk, keeping the UI workflow to embed', async () => {
    const api = loadWorkflowFile(example('image-resize.api.json'), registry);
    expect(api.source).toBe('api');
    const ui = loadWorkflowFile(example('image-resize.ui.json'), registry);
    expect(ui.source).toBe('ui');
    const png = loadWorkflowFile(await pngWith('both.png', { prompt: apiText, workflow: uiText }), registry);
    expect(png.source).toBe('png-prompt');
    expect(png.prompt).toEqual(JSON.parse(apiText));
    expect(png.workflow).toEqual(JSON.parse(uiText));
  });

  it('converts the workflow chunk of a PNG that carries no prompt chunk, as it converts the UI file', async () => {
    const png = loadWorkflowFile(await pngWith('workflow-only.png', { workflow: uiText }), registry);
    expect(png.source).toBe('png-workflow');
    expect(png.prompt).toEqual(loadWorkflowFile(example('image-resize.ui.json'), registry).prompt);
    expect(Object.values(png.prompt).map((n) => n.class_type)).toEqual(
      expect.arrayContaining(['LoadImage', 'ImageScale', 'SaveImage']),
    );
  });

  it('refuses a PNG without a workflow, and one whose chunk is not JSON, naming the file and chunk', async () => {
    const bare = await pngWith('bare.png', {});
    expect(() => loadWorkflowFile(bare, registry)).toThrow(/bare\.png has no embedded workflow/);
    const broken = await pngWith('broken.png', { prompt: '{"1": ' });
    expect(() => loadWorkflowFile(broken, registry)).toThrow(
      /the 'prompt' chunk of .*broken\.png is not valid JSON/,
    );
  });
});
