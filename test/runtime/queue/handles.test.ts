import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkpointName,
  FrontHandles,
  fingerprintIn,
  MissingCheckpointError,
  WorkerHandles,
} from '../../../src/runtime/queue/handles.js';
import { openCheckpoint } from '../../../src/sd/checkpoint/checkpoint.js';
import { writeTinyModel } from '../../../src/sd/tiny-model.js';

let root: string;
let fingerprint: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'cones-handles-'));
  await mkdir(join(root, 'front/sub'), { recursive: true });
  await mkdir(join(root, 'worker/checkpoints/sub'), { recursive: true });
  await writeTinyModel(join(root, 'front/sub/a.safetensors'), { seed: 5 });
  await writeTinyModel(join(root, 'worker/checkpoints/sub/a.safetensors'), { seed: 5 });
  await writeTinyModel(join(root, 'worker/checkpoints/b.safetensors'), { seed: 6 });
  const c = await openCheckpoint(join(root, 'front/sub/a.safetensors'));
  fingerprint = c.fingerprint;
  await c.close();
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const handle = (path: string, fp = fingerprint) => ({
  id: 'x',
  path,
  fingerprint: fp,
  config: {
    modelChannels: 32,
    contextDim: 32,
    latentChannels: 4,
    tensorCount: 1,
    parameterCount: 1,
    dtype: 'F32',
  },
  graphCacheDir: '/front/cache/onnx',
});

describe('checkpoint handles across machines', () => {
  it('names a checkpoint relative to the folder holding it, with forward slashes', () => {
    expect(checkpointName('/data/models/checkpoints/sub/a.safetensors', ['/data/models/checkpoints'])).toBe(
      'sub/a.safetensors',
    );
    expect(checkpointName('/elsewhere/a.safetensors', ['/data/models/checkpoints'])).toBe('a.safetensors');
  });

  it('sends handles by name without the front-side graph folder and maps them back to the front path', () => {
    const front = new FrontHandles([join(root, 'front')]);
    const data = new Float32Array([1, 2]);
    const payload = {
      model: { kind: 'sd1.model', checkpoint: handle(join(root, 'front/sub/a.safetensors')) },
      data,
    };
    const wire = front.toWire(payload) as any;
    expect(wire.model.checkpoint.path).toBe('sub/a.safetensors');
    expect(wire.model.checkpoint).not.toHaveProperty('graphCacheDir');
    expect(wire.data).toBe(data); // typed arrays are not copied
    expect((front.fromWire(wire) as any).model.checkpoint.path).toBe(join(root, 'front/sub/a.safetensors'));
    expect(fingerprintIn(payload)).toBe(fingerprint);
    expect(fingerprintIn({ image: data })).toBeUndefined();
  });

  it("sends sd.loadCheckpoint's file with the front file's fingerprint", async () => {
    const front = new FrontHandles([join(root, 'front')]);
    expect(await front.loadPayloadToWire({ path: join(root, 'front/sub/a.safetensors') })).toEqual({
      path: 'sub/a.safetensors',
      fingerprint,
    });
  });

  it("resolves names in the worker's own folder and refuses a missing file or other weights, naming file and fingerprint", async () => {
    const worker = new WorkerHandles(join(root, 'worker/checkpoints'), 'w9');
    const mapped = (await worker.fromWire({ checkpoint: handle('sub/a.safetensors') })) as any;
    expect(mapped.checkpoint.path).toBe(join(root, 'worker/checkpoints/sub/a.safetensors'));
    await expect(worker.fromWire({ checkpoint: handle('gone.safetensors') })).rejects.toThrow(
      new RegExp(`worker w9 has no checkpoint 'gone.safetensors' \\(fingerprint ${fingerprint}\\)`),
    );
    await expect(worker.resolveChecked('b.safetensors', fingerprint)).rejects.toThrow(
      new RegExp(
        `checkpoint 'b.safetensors' .* has fingerprint [0-9a-f]{32}, the front's has ${fingerprint}`,
      ),
    );
    await expect(worker.resolveChecked('../x.safetensors')).rejects.toBeInstanceOf(MissingCheckpointError);
    await writeFile(join(root, 'x.safetensors'), 'x');
    await expect(worker.resolveChecked('../x.safetensors')).rejects.toThrow(/leaves/);
    expect(worker.toWire({ h: mapped.checkpoint })).toEqual({
      h: { ...handle('sub/a.safetensors'), graphCacheDir: undefined },
    });
  });
});
