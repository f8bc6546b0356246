/**
 * The task map is checked by the compiler (`npm run typecheck` compiles test/ too): each
 * `@ts-expect-error` below fails the type check if the call or handler it marks ever compiles.
 */
import { describe, expect, it } from 'vitest';
import type { RuntimeClient } from '../../src/runtime/task-map.js';
import { tasks } from '../../src/runtime/tasks.js';
import type { SdTasks } from '../../src/sd/pipeline/protocol.js';
import type { TaskHandlers } from '../../src/shared/tasks.js';

// Never called: only compiled.
async function typeChecks(runtime: RuntimeClient, handlers: TaskHandlers<SdTasks>) {
  const model = {} as SdTasks['sd.sample']['payload']['model'];
  const latent = { data: new Float32Array(4), shape: [1, 4, 1, 1] };
  const sample = { model, positive: [], negative: [], latent, seed: 0, steps: 1, cfg: 1, denoise: 1 };
  const ok = await runtime.call('sd.sample', { ...sample, samplerName: 'euler', scheduler: 'normal' });
  const samples: Float32Array = ok.samples.data;

  // @ts-expect-error steps must be a number
  await runtime.call('sd.sample', { ...sample, samplerName: 'euler', scheduler: 'normal', steps: '20' });
  // @ts-expect-error samplerName and scheduler are missing
  await runtime.call('sd.sample', sample);
  // @ts-expect-error 'sd.sample' answers { samples }, not an image
  const wrongResult: { image: unknown } = await runtime.call('sd.sample', {
    ...sample,
    samplerName: 'euler',
    scheduler: 'normal',
  });
  // @ts-expect-error not a task name
  await runtime.call('sd.sampel', {});
  // @ts-expect-error a progress callback sees { value, max, preview? }
  await runtime.call('debug.spin', { ms: 1 }, { onProgress: (p: { step: number }) => p.step });

  // @ts-expect-error a handler table without 'sd.free' (and the rest) is incomplete
  const incomplete: TaskHandlers<SdTasks> = { 'sd.sample': handlers['sd.sample'] };
  const mistyped: TaskHandlers<SdTasks> = {
    ...handlers,
    // @ts-expect-error the 'sd.free' handler must answer { released }
    'sd.free': async () => ({ result: { freed: [] } }),
  };
  return [samples, wrongResult, incomplete, mistyped];
}

describe('runtime task map', () => {
  it('has one worker handler for every task name', () => {
    expect(typeof typeChecks).toBe('function');
    expect(Object.keys(tasks).sort()).toEqual(
      [
        'cones.extract',
        'cones.refine',
        'debug.crash',
        'debug.double',
        'debug.fail',
        'debug.settings',
        'debug.spin',
        'debug.unloadProbe',
        'image.scale',
        'runtime.unloadModels',
        'sd.debugModels',
        'sd.encodeText',
        'sd.free',
        'sd.loadCheckpoint',
        'sd.sample',
        'sd.vaeDecode',
        'sd.vaeEncode',
      ].sort(),
    );
  });
});
