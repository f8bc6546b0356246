import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { listRelativeFiles } from '../../src/shared/list-files.js';

function tree(): string {
  const root = mkdtempSync(join(tmpdir(), 'cones-list-'));
  mkdirSync(join(root, 'sub', 'deeper'), { recursive: true });
  mkdirSync(join(root, '.hidden'));
  for (const f of ['a.png', 'b.txt', 'sub/c.png', 'sub/deeper/d.png', '.hidden/e.png', '.f.png'])
    writeFileSync(join(root, f), '');
  symlinkSync(join(root, 'a.png'), join(root, 'linked.png'));
  return root;
}

describe('listRelativeFiles (combo listings like ComfyUI folder_paths)', () => {
  it('lists accepted files in subfolders with / separators, skips hidden entries, follows file links', () => {
    const names = listRelativeFiles(tree(), (n) => n.endsWith('.png')).sort();
    expect(names).toEqual(['a.png', 'linked.png', 'sub/c.png', 'sub/deeper/d.png']);
  });

  it('stops at maxDepth', () => {
    expect(listRelativeFiles(tree(), (n) => n.endsWith('.png'), { maxDepth: 1 }).sort()).toEqual([
      'a.png',
      'linked.png',
      'sub/c.png',
    ]);
  });

  it('lists nothing for a missing folder instead of throwing', () => {
    expect(listRelativeFiles(join(tmpdir(), 'no-such-folder-cones'), () => true)).toEqual([]);
  });
});

describe('listRelativeFiles with linksStayInside (data folders such as input/)', () => {
  it('lists links that resolve inside the folder and skips those leading out, dangling ones too', () => {
    const root = tree();
    const elsewhere = mkdtempSync(join(tmpdir(), 'cones-list-out-'));
    writeFileSync(join(elsewhere, 'secret.png'), '');
    symlinkSync(join(elsewhere, 'secret.png'), join(root, 'sub', 'leak.png'));
    symlinkSync(join(elsewhere, 'gone.png'), join(root, 'dangling.png'));
    const png = (n: string) => n.endsWith('.png');
    expect(listRelativeFiles(root, png, { linksStayInside: true }).sort()).toEqual([
      'a.png',
      'linked.png',
      'sub/c.png',
      'sub/deeper/d.png',
    ]);
    // Model folders keep following links: users link their model stores.
    expect(listRelativeFiles(root, png)).toContain('sub/leak.png');
  });
});
