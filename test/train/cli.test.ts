import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { commands } from '../../src/cli/commands.js';
import { progressLine, run } from '../../src/cli/train-toy-model.js';

const dir = mkdtempSync(join(tmpdir(), 'train-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let errors: string[];
beforeEach(() => {
  errors = [];
  vi.spyOn(console, 'error').mockImplementation((m: string) => {
    errors.push(String(m));
  });
});
afterEach(() => vi.restoreAllMocks());

describe('cones-nodes train-toy-model', () => {
  it('is registered as a command', async () => {
    expect((await commands['train-toy-model'].load()).run).toBe(run);
  });
  it('refuses bad arguments with exit code 2 and a message naming the problem', async () => {
    expect(await run([])).toBe(2);
    expect(await run([join(dir, 'm.ckpt')])).toBe(2);
    expect(errors.join('\n')).toMatch(/must end in \.safetensors/);
    expect(await run([join(dir, 'm.safetensors'), '--stage', 'text'])).toBe(2);
    expect(await run([join(dir, 'm.safetensors'), '--steps', '0'])).toBe(2);
    expect(errors.join('\n')).toMatch(/--steps must be an integer ≥ 1, got '0'/);
    expect(await run([join(dir, 'm.safetensors'), '--lr', '0'])).toBe(2);
    expect(errors.join('\n')).toMatch(/--lr must be a number > 0, got '0'/);
    expect(await run([join(dir, 'm.safetensors'), '--offset-noise', '2'])).toBe(2);
    expect(errors.join('\n')).toMatch(/--offset-noise must be a number in \[0, 1\], got '2'/);
    expect(await run([join(dir, 'm.safetensors'), '--seed=-1'])).toBe(2);
    expect(errors.join('\n')).toMatch(/--seed must be an integer in 0…4294967295, got '-1'/);
    expect(await run([join(dir, 'm.safetensors'), '--world', 'moon'])).toBe(2);
    expect(await run([join(dir, 'm.safetensors'), '--resume'])).toBe(2);
    expect(errors.join('\n')).toMatch(/no training state to resume/);
    expect(await run([join(dir, 'm.safetensors'), '--stage', 'unet'])).toBe(2);
    expect(errors.join('\n')).toMatch(/run --stage vae first/);
    expect(await run([join(dir, 'm.safetensors'), '--stage', 'vae', '--vae-crop', '20'])).toBe(2);
    expect(errors.join('\n')).toMatch(/--vae-crop: VAE crop size must be a multiple of 8/);
    expect(await run([join(dir, 'm.safetensors'), '--stage', 'vae', '--vae-loss', 'l2'])).toBe(2);
    expect(errors.join('\n')).toMatch(/--vae-loss must be one of l1, mse, got l2/);
    expect(await run([join(dir, 'm.safetensors'), '--stage', 'vae', '--vae-decoder-only'])).toBe(2);
    expect(errors.join('\n')).toMatch(
      /--vae-decoder-only fine-tunes a trained VAE: start it --init-from a model/,
    );
    const both = ['--vae-decoder-only', '--no-vae-decoder-only'];
    expect(await run([join(dir, 'm.safetensors'), '--stage', 'vae', ...both])).toBe(2);
    expect(errors.join('\n')).toMatch(/contradict each other/);
  });
  it('prints step, loss, samples/s and ETA', () => {
    const line = progressLine({
      stage: 'unet',
      step: 120,
      steps: 5000,
      loss: 0.123456,
      metrics: {},
      lr: 5e-4,
      gradNorm: 1,
      samplesPerSecond: 31.25,
      etaSeconds: 7384,
    });
    expect(line).toBe('unet step 120/5000 loss 0.1235 lr 5.00e-4 31.3 samples/s ETA 2 h 3 min');
  });
});
