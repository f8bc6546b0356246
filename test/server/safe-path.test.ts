import { mkdirSync, mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HttpError } from '../../src/server/http-error.js';
import {
  checkSubfolder,
  resolveContained,
  resolveInside,
  sanitizeFileName,
} from '../../src/server/safe-path.js';

function status(fn: () => unknown): number | undefined {
  return refusal(fn)?.status;
}

function refusal(fn: () => unknown): { status: number; type?: string } | undefined {
  try {
    fn();
  } catch (error) {
    return error instanceof HttpError ? { status: error.status, type: error.type } : { status: -1 };
  }
  return undefined;
}

describe('resolveInside', () => {
  it('resolves relative paths under the base and refuses escapes with 403', () => {
    expect(resolveInside('/data/input', 'a/b.png')).toBe(join('/data/input', 'a/b.png'));
    expect(resolveInside('/data/input', '')).toBe('/data/input');
    expect(status(() => resolveInside('/data/input', '../output/x'))).toBe(403);
    expect(status(() => resolveInside('/data/input', '/etc/passwd'))).toBe(403);
    expect(status(() => resolveInside('/data/input', 'a/../../input2'))).toBe(403);
    expect(status(() => resolveInside('/data/input', 'a\0b'))).toBe(400);
  });

  it('accepts names that merely start with two dots', () => {
    expect(resolveInside('/data/input', '..hidden.png')).toBe(join('/data/input', '..hidden.png'));
    expect(resolveInside('/data/input', 'a/..b/c.png')).toBe(join('/data/input', 'a/..b/c.png'));
    expect(status(() => resolveInside('/data/input', '..'))).toBe(403);
  });
});

describe('sanitizeFileName', () => {
  it('keeps the last segment and strips control and reserved characters', () => {
    expect(sanitizeFileName('../../x.png')).toBe('x.png');
    expect(sanitizeFileName('C:\\Users\\me\\y.png')).toBe('y.png');
    expect(sanitizeFileName('a\u0007b<c>.png')).toBe('a_b_c_.png');
    expect(sanitizeFileName(`${'n'.repeat(300)}.png`)).toHaveLength(200);
  });
  it('refuses names with nothing usable', () => {
    for (const bad of ['', '.', '..', '...', '/', 'a/..'])
      expect(status(() => sanitizeFileName(bad))).toBe(400);
  });
});

describe('checkSubfolder', () => {
  it('accepts nested relative folders and refuses absolute or parent paths', () => {
    expect(checkSubfolder('pasted/2024')).toBe('pasted/2024');
    expect(checkSubfolder('a\\b')).toBe('a/b');
    for (const bad of ['/tmp', '../x', 'a/../../b', 'C:/x'])
      expect(status(() => checkSubfolder(bad))).toBe(403);
  });
});

describe('resolveContained (data folders)', () => {
  it('refuses a path leading out through a symbolic link with 403 link_escape; resolveInside follows it', () => {
    const base = mkdtempSync(join(tmpdir(), 'cones-safe-'));
    const elsewhere = mkdtempSync(join(tmpdir(), 'cones-safe-out-'));
    mkdirSync(join(base, 'sub'));
    symlinkSync(elsewhere, join(base, 'out'));
    expect(refusal(() => resolveContained(base, 'out', 'x.png'))).toEqual({
      status: 403,
      type: 'link_escape',
    });
    expect(refusal(() => resolveContained(base, '../x'))).toEqual({ status: 403, type: 'path_escape' });
    expect(resolveContained(base, 'sub', 'x.png')).toBe(join(base, 'sub', 'x.png'));
    expect(resolveInside(base, 'out', 'x.png')).toBe(join(base, 'out', 'x.png'));
  });
});
