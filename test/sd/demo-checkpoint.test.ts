import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCheckpoint } from '../../src/sd/checkpoint/checkpoint.js';
import { numel } from '../../src/sd/checkpoint/dtype.js';
import { encodeSafetensorsHeader, writeSafetensors } from '../../src/sd/checkpoint/safetensors-writer.js';
import { sd1TensorShapes } from '../../src/sd/checkpoint/sd1-tensors.js';
import {
  DEMO_MODEL_ENV,
  isGeneratedRandomDemo,
  placeDemoCheckpoint,
  resolveDemoModel,
  shippedDemoCheckpointPath,
} from '../../src/sd/demo-checkpoint.js';
import { checkpointMetadataFor, DEMO_CHECKPOINT_NAME, TINY_SD1_CONFIG } from '../../src/sd/tiny-model.js';
import { assetPath } from '../../src/shared/assets.js';
import { defaultRecipe, demoConfig } from '../../src/train/recipe.js';

/** What placeDemoCheckpoint records next to a shipped model it placed. */
const PLACED_RECORD = '.tiny-sd1-demo.placed.json';

let root: string;
/** A stand-in for assets/models/tiny-sd1-demo.safetensors: small, trained-like metadata. */
let shippedFile: string;
let shippedBytes: Buffer;
let folderCount = 0;
const newFolder = () => join(root, `checkpoints-${folderCount++}`);

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'cones-demo-'));
  await mkdir(join(root, 'package-assets', 'models'), { recursive: true });
  shippedFile = join(root, 'package-assets', 'models', DEMO_CHECKPOINT_NAME);
  const values = Float32Array.from({ length: 96 }, (_, i) => Math.sin(i));
  await writeSafetensors(
    shippedFile,
    [{ name: 'model.diffusion_model.out.2.bias', dtype: 'F32', shape: [96] }],
    () => values,
    {
      metadata: {
        'cones.random_weights': 'false',
        'cones.generator': 'cones-nodes train-toy-model',
        'cones.model': 'toy-sd1-trained',
      },
    },
  );
  shippedBytes = await readFile(shippedFile);
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function expectRandomDemo(path: string): Promise<void> {
  const ckpt = await openCheckpoint(path);
  expect(ckpt.randomWeights).toBe(true);
  expect(ckpt.config).toEqual(TINY_SD1_CONFIG);
  await ckpt.close();
}

describe('placeDemoCheckpoint', () => {
  it("'shipped' copies the package's trained file byte for byte, with no temporary file left", async () => {
    const folder = newFolder();
    const placed = await placeDemoCheckpoint(folder, { model: 'shipped', shippedFile });
    expect(placed).toEqual({ path: join(folder, DEMO_CHECKPOINT_NAME), action: 'copied' });
    expect((await readFile(placed.path)).equals(shippedBytes)).toBe(true);
    expect((await readdir(folder)).sort()).toEqual([PLACED_RECORD, DEMO_CHECKPOINT_NAME]);
    const again = await placeDemoCheckpoint(folder, { model: 'shipped', shippedFile });
    expect(again.action).toBe('kept');
  });

  it("'random' writes the random tiny model once and leaves it alone afterwards, even with a shipped file", async () => {
    const folder = newFolder();
    const placed = await placeDemoCheckpoint(folder, { model: 'random', shippedFile });
    expect(placed).toEqual({ path: join(folder, DEMO_CHECKPOINT_NAME), action: 'generated' });
    const first = await stat(placed.path);
    expect(await placeDemoCheckpoint(folder, { model: 'random', shippedFile })).toEqual({
      path: placed.path,
      action: 'kept',
    });
    expect((await stat(placed.path)).mtimeMs).toBe(first.mtimeMs);
    await expectRandomDemo(placed.path);
  });

  it("'shipped' without a shipped file (a clone without the asset) writes the random model as before", async () => {
    const folder = newFolder();
    const missing = join(root, 'no-assets', 'models', DEMO_CHECKPOINT_NAME);
    const placed = await placeDemoCheckpoint(folder, { model: 'shipped', shippedFile: missing });
    expect(placed.action).toBe('generated');
    await expectRandomDemo(placed.path);
    expect(await isGeneratedRandomDemo(placed.path)).toBe(true);
  });

  it('an unreadable shipped file (truncated, a Git LFS pointer) is not copied: random weights, and a line says why', async () => {
    const folder = newFolder();
    const pointer = join(root, 'lfs-pointer.safetensors');
    await writeFile(pointer, 'version https://git-lfs.github.com/spec/v1\noid sha256:0123\nsize 34059926\n');
    const lines: string[] = [];
    const placed = await placeDemoCheckpoint(folder, {
      model: 'shipped',
      shippedFile: pointer,
      log: (line) => lines.push(line),
    });
    expect(placed.action).toBe('generated');
    await expectRandomDemo(placed.path);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/shipped demo model is unusable .*; using random weights/);
    // An old random demo stays as it is rather than being replaced by a broken file.
    const again = await placeDemoCheckpoint(folder, {
      model: 'shipped',
      shippedFile: pointer,
      log: () => {},
    });
    expect(again.action).toBe('kept');
    await expectRandomDemo(placed.path);
  });

  it('replaces the random demo earlier versions generated by the shipped model, and says so', async () => {
    const folder = newFolder();
    const { path } = await placeDemoCheckpoint(folder, { model: 'random' });
    expect(await isGeneratedRandomDemo(path)).toBe(true);
    const lines: string[] = [];
    const placed = await placeDemoCheckpoint(folder, {
      model: 'shipped',
      shippedFile,
      log: (line) => lines.push(line),
    });
    expect(placed.action).toBe('upgraded');
    expect((await readFile(path)).equals(shippedBytes)).toBe(true);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(path);
    expect(lines[0]).toMatch(/replaced the random-weights demo checkpoint/);
    expect((await readdir(folder)).sort()).toEqual([PLACED_RECORD, DEMO_CHECKPOINT_NAME]);
    expect(await isGeneratedRandomDemo(path)).toBe(false);
    const again = await placeDemoCheckpoint(folder, {
      model: 'shipped',
      shippedFile,
      log: (l) => lines.push(l),
    });
    expect(again.action).toBe('kept');
    expect(lines).toHaveLength(1);
  });

  it('replaces an earlier shipped model it placed, unchanged since, when the package ships another; never one the user changed', async () => {
    const folder = newFolder();
    const older = join(root, 'older-shipped.safetensors');
    await writeSafetensors(
      older,
      [{ name: 'w', dtype: 'F32', shape: [4] }],
      () => Float32Array.of(1, 2, 3, 4),
      {
        metadata: { 'cones.random_weights': 'false', 'cones.generator': 'cones-nodes train-toy-model' },
      },
    );
    const { path } = await placeDemoCheckpoint(folder, { model: 'shipped', shippedFile: older });
    const lines: string[] = [];
    const log = (line: string) => lines.push(line);
    // The same file shipped again: nothing to do.
    expect((await placeDemoCheckpoint(folder, { model: 'shipped', shippedFile: older, log })).action).toBe(
      'kept',
    );
    // A newer training run ships: the untouched earlier copy is replaced, with one line.
    const placed = await placeDemoCheckpoint(folder, { model: 'shipped', shippedFile, log });
    expect(placed.action).toBe('upgraded');
    expect((await readFile(path)).equals(shippedBytes)).toBe(true);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/replaced the earlier trained demo checkpoint/);

    // Once the user has changed the placed file (here: rewritten it), it is theirs.
    const other = newFolder();
    const mine = await placeDemoCheckpoint(other, { model: 'shipped', shippedFile: older });
    const edited = Buffer.concat([await readFile(mine.path)]);
    await writeFile(mine.path, edited);
    const later = new Date(Date.now() + 5_000);
    await utimes(mine.path, later, later);
    expect((await placeDemoCheckpoint(other, { model: 'shipped', shippedFile, log })).action).toBe('kept');
    expect((await readFile(mine.path)).equals(edited)).toBe(true);
    expect(lines).toHaveLength(1);
  });

  it("never touches the user's own file of that name", async () => {
    const userFiles: Array<[string, Record<string, string> | undefined]> = [
      ['not a safetensors file', undefined],
      [
        'random weights from another generator',
        { 'cones.random_weights': 'true', 'cones.generator': 'my-script' },
      ],
      [
        'trained weights',
        { 'cones.random_weights': 'false', 'cones.generator': 'cones-nodes make-tiny-model' },
      ],
    ];
    for (const [label, metadata] of userFiles) {
      const folder = newFolder();
      await mkdir(folder, { recursive: true });
      const path = join(folder, DEMO_CHECKPOINT_NAME);
      if (!metadata) await writeFile(path, 'my own notes, not a model\n');
      else
        await writeSafetensors(path, [{ name: 'w', dtype: 'F32', shape: [4] }], () => new Float32Array(4), {
          metadata,
        });
      const before = await readFile(path);
      const lines: string[] = [];
      const placed = await placeDemoCheckpoint(folder, {
        model: 'shipped',
        shippedFile,
        log: (line) => lines.push(line),
      });
      expect(placed.action, label).toBe('kept');
      expect((await readFile(path)).equals(before), label).toBe(true);
      expect(lines, label).toEqual([]);
    }
  });

  it('concurrent placements (services sharing a folder) all resolve to one complete file', async () => {
    const folder = newFolder();
    const { path } = await placeDemoCheckpoint(folder, { model: 'random' });
    const results = await Promise.all(
      Array.from({ length: 6 }, () =>
        placeDemoCheckpoint(folder, { model: 'shipped', shippedFile, log: () => {} }),
      ),
    );
    expect(results.every((r) => r.path === path)).toBe(true);
    expect(results.some((r) => r.action === 'upgraded')).toBe(true);
    expect((await readFile(path)).equals(shippedBytes)).toBe(true);
    expect((await readdir(folder)).sort()).toEqual([PLACED_RECORD, DEMO_CHECKPOINT_NAME]);
  });
});

describe('the demo model choice', () => {
  it('is the explicit value, else CONES_DEMO_MODEL, else shipped; bad values name their source', () => {
    expect(resolveDemoModel(undefined, 'x', {})).toBe('shipped');
    expect(resolveDemoModel(undefined, 'x', { [DEMO_MODEL_ENV]: '' })).toBe('shipped');
    expect(resolveDemoModel(undefined, 'x', { [DEMO_MODEL_ENV]: 'random' })).toBe('random');
    expect(resolveDemoModel('shipped', 'x', { [DEMO_MODEL_ENV]: 'random' })).toBe('shipped');
    expect(() => resolveDemoModel('trained', '--demo-model', {})).toThrow(
      "--demo-model must be shipped or random, got 'trained'",
    );
    expect(() => resolveDemoModel(undefined, 'x', { [DEMO_MODEL_ENV]: 'Random' })).toThrow(
      `${DEMO_MODEL_ENV} must be shipped or random, got 'Random'`,
    );
  });

  it('tests run with the random demo model (test/helpers/demo-model-setup.ts)', () => {
    expect(process.env[DEMO_MODEL_ENV]).toBe('random');
    expect(resolveDemoModel()).toBe('random');
  });

  it('the shipped file lives in the package assets folder', () => {
    expect(shippedDemoCheckpointPath()).toBe(join(assetPath(), 'models', DEMO_CHECKPOINT_NAME));
  });
});

describe('the trained demo architecture (src/train/recipe.ts demoConfig)', () => {
  it('fits a float16 single-file checkpoint in 40 MB (10^6 bytes), header and recipe metadata included', () => {
    const config = demoConfig();
    const specs = [...sd1TensorShapes(config)].map(([name, shape]) => ({
      name,
      dtype: 'F16' as const,
      shape,
    }));
    // The metadata src/train/export.ts writes, with generous stand-ins for the steps and losses.
    const metadata = {
      ...checkpointMetadataFor(config, { seed: 0, kind: 'toy-sd1-trained' }),
      'cones.random_weights': 'false',
      'cones.generator': 'cones-nodes train-toy-model',
      'cones.train.recipe': JSON.stringify(defaultRecipe()),
      'cones.train.steps': JSON.stringify({ vae: 99999, unet: 99999, text: 99999 }),
      'cones.train.final_losses': JSON.stringify({
        vae: 0.0123456789,
        unet: 0.0123456789,
        text: 0.0123456789,
      }),
      'cones.train.wall_seconds': '99999.9',
      'cones.train.latent_scale': '0.123456789',
    };
    const header = encodeSafetensorsHeader(specs, metadata).length;
    const data = specs.reduce((sum, s) => sum + 2 * numel(s.shape), 0);
    const bytes = header + data;
    expect(bytes).toBeLessThanOrEqual(40e6);
    // The tensors are nearly all of it (about 34.1 MB in 17.0 M parameters when this was written).
    expect(data / bytes).toBeGreaterThan(0.99);
  });

  it.skipIf(!existsSync(shippedDemoCheckpointPath()))(
    'the shipped trained file is at most 40 MB and not taken for a random demo',
    async () => {
      const shipped = shippedDemoCheckpointPath();
      expect((await stat(shipped)).size).toBeLessThanOrEqual(40e6);
      expect(await isGeneratedRandomDemo(shipped)).toBe(false);
      const ckpt = await openCheckpoint(shipped);
      expect(ckpt.randomWeights).toBe(false);
      await ckpt.close();
    },
  );
});
