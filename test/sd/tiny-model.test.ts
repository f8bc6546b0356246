import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCheckpoint } from '../../src/sd/checkpoint/checkpoint.js';
import { SafetensorsFile } from '../../src/sd/checkpoint/safetensors-reader.js';
import { initTensor, TINY_SD1_CONFIG, writeTinyModel } from '../../src/sd/tiny-model.js';

const run = promisify(execFile);
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cones-tiny-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function stats(values: Float32Array): { mean: number; std: number } {
  let sum = 0;
  for (const v of values) sum += v;
  const mean = sum / values.length;
  let sq = 0;
  for (const v of values) sq += (v - mean) ** 2;
  return { mean, std: Math.sqrt(sq / values.length) };
}

describe('tiny SD1 model', () => {
  it('is byte-for-byte reproducible from its seed', async () => {
    const a = join(dir, 'a.safetensors');
    const b = join(dir, 'b.safetensors');
    await writeTinyModel(a, { seed: 11, dtype: 'F16' });
    await writeTinyModel(b, { seed: 11, dtype: 'F16' });
    expect((await readFile(a)).equals(await readFile(b))).toBe(true);
  });

  it('keeps all of SD1 block kinds: 4 levels, transformers at the first three, mid block, 12 output blocks', () => {
    const u = TINY_SD1_CONFIG.unet;
    expect(u.channelMult).toHaveLength(4);
    expect(u.attentionLevels).toEqual([true, true, true, false]);
    expect(u.numResBlocks).toBe(2);
    expect(TINY_SD1_CONFIG.text).toMatchObject({ vocabSize: 49408, maxPositions: 77 });
  });

  it('records head counts, GroupNorm groups and the random-weights marker in __metadata__', async () => {
    const path = join(dir, 'meta.safetensors');
    await writeTinyModel(path, { seed: 3, dtype: 'F16' });
    const file = await SafetensorsFile.open(path);
    expect(file.metadata).toMatchObject({
      'cones.random_weights': 'true',
      'cones.seed': '3',
      'sd1.unet.num_heads': '2',
      'sd1.text.num_heads': '2',
      'sd1.norm_groups': '8',
    });
    await file.close();
  });

  it('initialises weights so activations stay O(1): convs/linears ~ N(0, 1/fan_in), norms near γ=1, β=0', () => {
    const conv = initTensor('model.diffusion_model.input_blocks.4.0.in_layers.2.weight', [64, 32, 3, 3], 0);
    const { mean, std } = stats(conv);
    expect(Math.abs(mean)).toBeLessThan(0.01);
    expect(std).toBeGreaterThan(0.95 / Math.sqrt(288));
    expect(std).toBeLessThan(1.05 / Math.sqrt(288));
    const gamma = stats(initTensor('model.diffusion_model.out.0.weight', [4096], 0));
    expect(Math.abs(gamma.mean - 1)).toBeLessThan(0.01);
    expect(gamma.std).toBeLessThan(0.06);
    const beta = stats(initTensor('model.diffusion_model.out.0.bias', [4096], 0));
    expect(Math.abs(beta.mean)).toBeLessThan(0.01);
    // Each tensor has its own stream: same shape, different key → different values.
    const other = initTensor('model.diffusion_model.input_blocks.5.0.in_layers.2.weight', [64, 32, 3, 3], 0);
    expect(other[0]).not.toBe(conv[0]);
    expect(
      initTensor('model.diffusion_model.input_blocks.4.0.in_layers.2.weight', [64, 32, 3, 3], 1)[0],
    ).not.toBe(conv[0]);
  });
});

describe('cones-nodes make-tiny-model (CLI)', () => {
  const cli = (args: string[]) =>
    run(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'make-tiny-model', ...args], {
      cwd: process.cwd(),
    });

  it('writes a loadable fp16 checkpoint and reports its size and fingerprint', async () => {
    const out = join(dir, 'cli.safetensors');
    const { stdout } = await cli([out, '--seed', '5', '--fp16']);
    expect(stdout).toMatch(
      /tiny SD1 with random weights \(seed 5, F16\), 11,455,611 parameters, [\d.]+ MiB, fingerprint [0-9a-f]{32}/,
    );
    const ckpt = await openCheckpoint(out);
    try {
      expect(ckpt.dtypeOf('model.diffusion_model.out.2.weight')).toBe('F16');
      expect(stdout).toContain(ckpt.fingerprint);
      const direct = join(dir, 'direct.safetensors');
      await writeTinyModel(direct, { seed: 5, dtype: 'F16' });
      expect((await readFile(out)).equals(await readFile(direct))).toBe(true);
    } finally {
      await ckpt.close();
    }
  });

  it('writes a diffusers folder with --diffusers', async () => {
    const out = join(dir, 'cli-diffusers');
    await cli([out, '--seed', '5', '--diffusers']);
    const ckpt = await openCheckpoint(out);
    expect(ckpt.layout).toBe('diffusers');
    await ckpt.close();
  });

  it('rejects bad arguments with exit code 2 and usage', async () => {
    for (const args of [
      [],
      [join(dir, 'x.safetensors'), '--seed', 'abc'],
      [join(dir, 'x.safetensors'), '--fp16', '--bf16'],
      ['--bogus'],
    ]) {
      const error = await cli(args).then(
        () => undefined,
        (e: { code: number; stderr: string }) => e,
      );
      expect(error?.code).toBe(2);
      expect(error?.stderr).toMatch(/make-tiny-model/);
    }
  });
});
