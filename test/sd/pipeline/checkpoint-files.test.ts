import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { listCheckpointNames, resolveCheckpointPath } from '../../../src/sd/pipeline/checkpoint-files.js';

describe('checkpoint files', () => {
  const a = mkdtempSync(join(tmpdir(), 'ckpt-a-'));
  const b = mkdtempSync(join(tmpdir(), 'ckpt-b-'));
  mkdirSync(join(a, 'sub'));
  writeFileSync(join(a, 'one.safetensors'), 'x');
  writeFileSync(join(a, 'sub', 'two.safetensors'), 'x');
  writeFileSync(join(a, 'notes.txt'), 'x');
  writeFileSync(join(b, 'one.safetensors'), 'y');
  writeFileSync(join(b, 'three.ckpt'), 'y');

  it('lists checkpoints of every folder with subfolder names, once each', () => {
    expect(listCheckpointNames([a, b])).toEqual(['one.safetensors', 'sub/two.safetensors', 'three.ckpt']);
  });

  it('resolves a name in the first folder that has it', () => {
    expect(resolveCheckpointPath([a, b], 'one.safetensors')).toEqual({ path: join(a, 'one.safetensors') });
    expect(resolveCheckpointPath([a, b], 'three.ckpt')).toEqual({ path: join(b, 'three.ckpt') });
  });

  it('refuses names that leave the model folders', () => {
    expect(resolveCheckpointPath([a], '../etc/passwd')).toHaveProperty('error');
    expect(resolveCheckpointPath([a], '/etc/passwd')).toHaveProperty('error');
    expect(resolveCheckpointPath([a], 'missing.safetensors')).toHaveProperty('error');
  });

  it('names the folders it searched without their absolute paths', () => {
    const found = resolveCheckpointPath([a, b], 'missing.safetensors');
    const error = 'error' in found ? found.error : '';
    expect(error).toContain(basename(a));
    expect(error).not.toContain(tmpdir());
  });
});
