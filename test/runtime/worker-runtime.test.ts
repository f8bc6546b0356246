import { afterAll, describe, expect, it } from 'vitest';
import { RuntimeTaskError, WorkerRuntime } from '../../src/runtime/worker-runtime.js';
import { InterruptedError } from '../../src/shared/interrupted.js';
import { type RuntimeSettings, resolveRuntimeSettings } from '../../src/shared/runtime-settings.js';

describe('WorkerRuntime', () => {
  const runtime = new WorkerRuntime();
  afterAll(() => runtime.close());

  it('keeps the main thread responsive while a worker computes for 2 s', async () => {
    await runtime.call('debug.spin', { ms: 1, steps: 1 }); // worker started and warm
    let maxGap = 0;
    let last = performance.now();
    const timer = setInterval(() => {
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
    }, 10);
    const progress: number[] = [];
    const t0 = performance.now();
    const result = await runtime.call(
      'debug.spin',
      { ms: 2000, steps: 8 },
      { onProgress: (p) => progress.push(p.value) },
    );
    const elapsed = performance.now() - t0;
    clearInterval(timer);
    expect(result.steps).toBe(8);
    expect(elapsed).toBeGreaterThanOrEqual(1900);
    expect(progress).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    // a 10 ms timer kept firing: the event loop never stalled for anything like the 2 s of work
    expect(maxGap).toBeLessThan(1000); // generous for a loaded CI machine; blocking would be ≥ 2000
  });

  it('aborts a running task: the call rejects at once and the worker stops at its next check', async () => {
    const controller = new AbortController();
    const pending = runtime.call(
      'debug.spin',
      { ms: 30_000, steps: 1000 },
      {
        signal: controller.signal,
        onProgress: () => controller.abort(),
      },
    );
    await expect(pending).rejects.toBeInstanceOf(InterruptedError);
    // the worker is free again soon (the task saw the shared abort flag)
    const t0 = performance.now();
    await runtime.call('debug.spin', { ms: 1, steps: 1 });
    expect(performance.now() - t0).toBeLessThan(5000);
  });

  it('rejects immediately when the signal is already aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(
      runtime.call('debug.spin', { ms: 10 }, { signal: controller.signal }),
    ).rejects.toBeInstanceOf(InterruptedError);
  });

  it('transfers buffers both ways', async () => {
    const input = new Float32Array([1, 2, 3, 4]);
    const out = await runtime.call('debug.double', { data: input }, { transfer: [input.buffer] });
    expect(input.byteLength).toBe(0); // moved, not copied
    expect(out.sum).toBe(10);
    expect(Array.from(out.data)).toEqual([2, 4, 6, 8]);
  });

  it('propagates task errors with their type, message and worker stack', async () => {
    const error = await runtime.call('debug.fail', { message: 'bad payload' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RuntimeTaskError);
    expect((error as RuntimeTaskError).name).toBe('TypeError');
    expect((error as RuntimeTaskError).message).toBe('bad payload');
    expect((error as RuntimeTaskError).task).toBe('debug.fail');
    expect((error as RuntimeTaskError).stack).toContain('debug-tasks');
    // @ts-expect-error not a task of TaskMap: the worker still refuses it when a caller gets past the types
    await expect(runtime.call('no.such.task', {})).rejects.toThrow("unknown runtime task 'no.such.task'");
  });

  it('refuses names inherited from Object.prototype as unknown tasks', async () => {
    for (const name of ['toString', 'constructor', '__proto__']) {
      await expect(runtime.call(name as never, {} as never)).rejects.toThrow(
        `unknown runtime task '${name}'`,
      );
    }
  });

  it('restarts the worker after a crash', async () => {
    const before = runtime.startCount;
    const error = await runtime.call('debug.crash', {}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RuntimeTaskError);
    expect((error as Error).name).toBe('RuntimeWorkerCrash');
    expect((error as Error).message).toContain('deliberate worker crash');
    const out = await runtime.call('debug.double', { data: new Float32Array([5]) });
    expect(out.sum).toBe(5);
    expect(runtime.startCount).toBe(before + 1);
  });
});

describe('WorkerRuntime settings', () => {
  it('hands its settings object to the worker, which does not read the environment', async () => {
    const settings: RuntimeSettings = {
      executionProvider: 'cpu',
      dtype: 'float16',
      modelMemoryBytes: 123 * 2 ** 20,
      threads: 2,
      maxShapes: 3,
      attentionMapBytes: 5 * 2 ** 20,
      graphCacheDir: '/somewhere/graphs',
    };
    const previous = process.env.CONES_SD_MAX_SHAPES;
    process.env.CONES_SD_MAX_SHAPES = '9';
    const runtime = new WorkerRuntime({ settings });
    try {
      expect(await runtime.call('debug.settings', {})).toEqual(settings);
    } finally {
      if (previous === undefined) delete process.env.CONES_SD_MAX_SHAPES;
      else process.env.CONES_SD_MAX_SHAPES = previous;
      await runtime.close();
    }
  });

  it('without settings resolves them from the CONES_* variables when a worker starts', async () => {
    const previous = process.env.CONES_ORT_THREADS;
    const runtime = new WorkerRuntime();
    try {
      process.env.CONES_ORT_THREADS = '3';
      const settings = await runtime.call('debug.settings', {});
      expect(settings).toEqual(resolveRuntimeSettings());
      expect(settings.threads).toBe(3);
      await runtime.close();
      process.env.CONES_ORT_THREADS = 'many';
      const broken = new WorkerRuntime();
      await expect(broken.call('debug.settings', {})).rejects.toThrow(
        "CONES_ORT_THREADS must be a positive integer; got 'many'",
      );
      await broken.close();
    } finally {
      if (previous === undefined) delete process.env.CONES_ORT_THREADS;
      else process.env.CONES_ORT_THREADS = previous;
      await runtime.close();
    }
  });
});
