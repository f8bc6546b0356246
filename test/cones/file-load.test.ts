import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConceptFileError, loadConceptFile } from '../../src/cones/file.js';

let root: string;
let folder: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'cones-concept-paths-'));
  folder = join(root, 'models', 'concepts');
  await mkdir(folder, { recursive: true });
});
afterAll(() => rm(root, { recursive: true, force: true }));

async function failure(path: string): Promise<ConceptFileError> {
  const error = await loadConceptFile(path).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConceptFileError);
  return error as ConceptFileError;
}

describe('loadConceptFile errors', () => {
  it('name a damaged file by its folder and name, not its absolute path', async () => {
    const path = join(folder, 'damaged.cones.safetensors');
    await writeFile(path, Buffer.from('not a safetensors file at all'));
    const error = await failure(path);
    expect(error.message).toMatch(/^concepts\/damaged\.cones\.safetensors: /);
    expect(error.message).not.toContain(root);
  });

  it('report an unreadable file with code unreadable, without its absolute path', async () => {
    const error = await failure(join(folder, 'gone.cones.safetensors'));
    expect(error.code).toBe('unreadable');
    expect(error.message).toContain('concepts/gone.cones.safetensors');
    expect(error.message).toContain('ENOENT');
    expect(error.message).not.toContain(root);
  });
});
