import { mkdirSync, mkdtempSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { realPathOf, staysInside } from '../../src/shared/contained-path.js';

/** A data folder `root/data` next to `root/elsewhere`, both under a real (link-free) temp path. */
function layout(): { data: string; elsewhere: string } {
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'cones-contained-')));
  const data = join(root, 'data');
  const elsewhere = join(root, 'elsewhere');
  mkdirSync(join(data, 'sub'), { recursive: true });
  mkdirSync(elsewhere);
  writeFileSync(join(elsewhere, 'secret.txt'), 'x');
  return { data, elsewhere };
}

describe('realPathOf', () => {
  it('follows links along the existing part and keeps the missing tail', () => {
    const { data, elsewhere } = layout();
    symlinkSync(elsewhere, join(data, 'out'));
    expect(realPathOf(join(data, 'out', 'secret.txt'))).toBe(join(elsewhere, 'secret.txt'));
    expect(realPathOf(join(data, 'out', 'new', 'deeper.txt'))).toBe(join(elsewhere, 'new', 'deeper.txt'));
    expect(realPathOf(join(data, 'sub', 'missing.txt'))).toBe(join(data, 'sub', 'missing.txt'));
  });

  it('follows a dangling link to where a write through it would land', () => {
    const { data, elsewhere } = layout();
    symlinkSync(join(elsewhere, 'created.txt'), join(data, 'dangling.txt'));
    symlinkSync(join(elsewhere, 'nodir'), join(data, 'danglingdir'));
    expect(realPathOf(join(data, 'dangling.txt'))).toBe(join(elsewhere, 'created.txt'));
    expect(realPathOf(join(data, 'danglingdir', 'a', 'b.txt'))).toBe(join(elsewhere, 'nodir', 'a', 'b.txt'));
  });

  it('throws on a link loop instead of spinning', () => {
    const { data } = layout();
    symlinkSync(join(data, 'b'), join(data, 'a'));
    symlinkSync(join(data, 'a'), join(data, 'b'));
    expect(() => realPathOf(join(data, 'a', 'x'))).toThrow(/symbolic links/);
  });
});

describe('staysInside', () => {
  it('refuses links leading out, accepts links that stay in', () => {
    const { data, elsewhere } = layout();
    symlinkSync(elsewhere, join(data, 'out'));
    symlinkSync(join(data, 'sub'), join(data, 'alias'));
    symlinkSync(join(data, 'a'), join(data, 'loop'));
    symlinkSync(join(data, 'loop'), join(data, 'a'));
    expect(staysInside(data, join(data, 'out', 'secret.txt'))).toBe(false);
    expect(staysInside(data, join(data, 'out', 'new.txt'))).toBe(false);
    expect(staysInside(data, join(data, 'loop'))).toBe(false);
    expect(staysInside(data, join(data, 'alias', 'x.txt'))).toBe(true);
    expect(staysInside(data, join(data, 'sub', 'new', 'x.txt'))).toBe(true);
    expect(staysInside(data, data)).toBe(true);
  });

  it("compares against the folder's real location when the folder itself is a link", () => {
    const { data, elsewhere } = layout();
    const linkedData = `${data}-link`;
    symlinkSync(data, linkedData);
    expect(staysInside(linkedData, join(linkedData, 'sub', 'x.txt'))).toBe(true);
    symlinkSync(elsewhere, join(data, 'out'));
    expect(staysInside(linkedData, join(linkedData, 'out', 'secret.txt'))).toBe(false);
  });
});
