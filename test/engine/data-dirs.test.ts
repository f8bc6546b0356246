import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveDataDirs } from '../../src/engine/data-dirs.js';

describe('resolveDataDirs', () => {
  it('creates the data folder layout', () => {
    const root = mkdtempSync(join(tmpdir(), 'cones-dirs-'));
    const dirs = resolveDataDirs({ dataDir: root });
    for (const p of ['models/checkpoints', 'models/concepts', 'input', 'output', 'temp', 'user'])
      expect(existsSync(join(root, p))).toBe(true);
    expect(dirs.input).toBe(join(root, 'input'));
    expect(dirs.models.checkpoints).toEqual([join(root, 'models', 'checkpoints')]);
  });

  it('reuses a ComfyUI install: its folders for files, its model folders first', () => {
    const root = mkdtempSync(join(tmpdir(), 'cones-dirs-'));
    const comfy = mkdtempSync(join(tmpdir(), 'comfyui-'));
    const dirs = resolveDataDirs({ dataDir: root, comfyuiDir: comfy });
    expect([dirs.input, dirs.output, dirs.temp, dirs.user]).toEqual(
      ['input', 'output', 'temp', 'user'].map((d) => join(comfy, d)),
    );
    expect(dirs.models.checkpoints).toEqual([
      join(comfy, 'models', 'checkpoints'),
      join(root, 'models', 'checkpoints'),
    ]);
    expect(existsSync(join(comfy, 'models', 'concepts'))).toBe(true);
  });
});
