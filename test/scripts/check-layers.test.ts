import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';

const script = join(process.cwd(), 'scripts/check-layers.mjs');

function check(root?: string) {
  const run = spawnSync(process.execPath, root ? [script, root] : [script], { encoding: 'utf8' });
  return { status: run.status, stderr: run.stderr };
}

/** A temp repository holding `files` (path under the root → text). */
function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'check-layers-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

describe('scripts/check-layers.mjs', () => {
  it('passes on this repository', () => {
    expect(check()).toEqual({ status: 0, stderr: '' });
  });

  it('passes imports downward and within a layer', () => {
    const root = tree({
      'src/shared/types.ts': 'export interface Tensor { data: Float32Array }\n',
      'src/sd/a.ts': "import type { Tensor } from '../shared/types.js';\nexport type T = Tensor;\n",
      'src/cones/b.ts': "export { type T } from '../sd/a.js';\n",
      'src/nodes/c.ts': "import '../sd/a.js';\nconst lazy = () => import('../cones/b.js');\n",
    });
    expect(check(root)).toEqual({ status: 0, stderr: '' });
  });

  it('reports each upward import with its file, line and layers, and fails', () => {
    const root = tree({
      'src/nodes/types.ts': 'export interface NodeContext {}\n',
      'src/engine/run.ts': 'export const run = 1;\n',
      'src/sd/pipeline/x.ts': [
        '// an import in a comment does not count: import { y } from "../../engine/run.js";',
        "import type { NodeContext } from '../../nodes/types.js';",
        'export type {',
        '  NodeContext as C,',
        "} from '../../nodes/types.js';",
        "export const later = () => import('../../engine/run.js');",
      ].join('\n'),
      'src/shared/y.ts': "import { run } from '../engine/run.js';\nexport const y = run;\n",
    });
    const { status, stderr } = check(root);
    expect(status).toBe(1);
    const lines = stderr.split('\n').filter((l) => l.includes(' imports '));
    expect(lines.sort()).toEqual(
      [
        'src/sd/pipeline/x.ts:2 imports ../../nodes/types.js (layer families may not import layer nodes)',
        'src/sd/pipeline/x.ts:5 imports ../../nodes/types.js (layer families may not import layer nodes)',
        'src/sd/pipeline/x.ts:6 imports ../../engine/run.js (layer families may not import layer engine)',
        'src/shared/y.ts:1 imports ../engine/run.js (layer shared may not import layer engine)',
      ].sort(),
    );
  });

  it('fails on a source folder that is in no layer', () => {
    const root = tree({ 'src/misc/z.ts': 'export const z = 1;\n' });
    const { status, stderr } = check(root);
    expect(status).toBe(1);
    expect(stderr).toContain(
      "src/misc/z.ts: 'misc' is in no layer (add it to LAYERS in scripts/check-layers.mjs)",
    );
  });
});
