/**
 * Writes examples/workflows/<name>.ui.json (UI format, laid out for the ComfyUI front end) from each
 * <name>.api.json and its layout in scripts/ui-examples/layouts.ts. Run after changing either:
 *   npx tsx scripts/make-ui-examples.ts
 * test/examples/ui-workflows.test.ts fails while a committed file differs from what this writes.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createNodeRegistry } from '../src/nodes/index.js';
import { assetPath } from '../src/shared/assets.js';
import { type ApiExample, buildUiWorkflow, formatWorkflow } from './ui-examples/build.js';
import { exampleLayouts } from './ui-examples/layouts.js';

const dir = join(assetPath('..'), 'examples', 'workflows');
const registry = createNodeRegistry();
for (const layout of exampleLayouts) {
  const api = JSON.parse(readFileSync(join(dir, `${layout.name}.api.json`), 'utf8')) as ApiExample;
  const file = join(dir, `${layout.name}.ui.json`);
  writeFileSync(file, formatWorkflow(buildUiWorkflow(layout, api, registry)));
  console.log(`wrote ${file}`);
}
