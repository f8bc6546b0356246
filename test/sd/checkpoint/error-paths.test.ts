import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCheckpoint } from '../../../src/sd/checkpoint/checkpoint.js';
import { CheckpointError } from '../../../src/sd/checkpoint/errors.js';

let root: string;
let folder: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'cones-ckpt-paths-'));
  folder = join(root, 'models', 'checkpoints');
  await mkdir(folder, { recursive: true });
});
afterAll(() => rm(root, { recursive: true, force: true }));

async function failure(path: string): Promise<CheckpointError> {
  const error = await openCheckpoint(path).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(CheckpointError);
  return error as CheckpointError;
}

describe('CheckpointError messages', () => {
  it('name a corrupt file by its folder and name; the absolute path stays on the error for logs', async () => {
    const path = join(folder, 'broken.safetensors');
    const header = Buffer.from('{"a": not json}');
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(BigInt(header.length));
    await writeFile(path, Buffer.concat([length, header]));
    const error = await failure(path);
    expect(error.code).toBe('corrupt');
    expect(error.message).toMatch(/^checkpoints\/broken\.safetensors: invalid safetensors header/);
    expect(error.message).not.toContain(root);
    expect(error.path).toBe(path);
  });

  it('do not pass on the absolute path an operating-system error quotes', async () => {
    const error = await failure(join(folder, 'missing.safetensors'));
    expect(error.code).toBe('io');
    expect(error.message).toContain('ENOENT');
    expect(error.message).toContain('checkpoints/missing.safetensors');
    expect(error.message).not.toContain(root);
  });
});
