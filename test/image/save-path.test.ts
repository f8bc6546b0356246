import { existsSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { counterFileName, saveImagePath } from '../../src/image/save-path.js';

describe('saveImagePath (ComfyUI get_save_image_path)', () => {
  it('starts at 1, continues after the highest counter of the same prefix, ignores other names', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cones-save-'));
    expect(saveImagePath('ComfyUI', dir).counter).toBe(1);
    for (const f of ['ComfyUI_00003_.png', 'ComfyUI_00010_.png', 'ComfyUIx_00099_.png', 'Other_00050_.png'])
      writeFileSync(join(dir, f), '');
    const p = saveImagePath('ComfyUI', dir);
    expect(p).toEqual({ folder: dir, filename: 'ComfyUI', counter: 11, subfolder: '' });
    expect(counterFileName(p.filename, p.counter, 0)).toBe('ComfyUI_00011_.png');
  });

  it('splits subfolders off the prefix, creates them, expands %width%/%height%', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cones-save-'));
    const p = saveImagePath('runs/%width%x%height%/img', dir, 64, 32);
    expect(p.subfolder).toBe('runs/64x32');
    expect(p.folder).toBe(join(dir, 'runs', '64x32'));
    expect(p.filename).toBe('img');
    expect(counterFileName('b%batch_num%', 2, 3)).toBe('b3_00002_.png');
  });

  it('refuses prefixes that leave the output folder', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cones-save-'));
    expect(() => saveImagePath('../escape', dir)).toThrow(/outside the output folder/);
    expect(() => saveImagePath('a/../../escape', dir)).toThrow(/outside the output folder/);
  });

  it('refuses a subfolder that is a symbolic link leading out of the output folder, creating nothing there', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cones-save-'));
    const elsewhere = mkdtempSync(join(tmpdir(), 'cones-save-out-'));
    symlinkSync(elsewhere, join(dir, 'out'));
    expect(() => saveImagePath('out/img', dir)).toThrow(/symbolic link/);
    expect(() => saveImagePath('out/new/img', dir)).toThrow(/symbolic link/);
    expect(existsSync(join(elsewhere, 'new'))).toBe(false);
  });
});
