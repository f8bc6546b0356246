import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';

describe('sessions', () => {
  it('build, save, load and run inside a worker thread (nothing assumes the main thread)', async () => {
    // The worker loads TypeScript through tsx's loader, registered inside the worker itself.
    const file = new URL('./fixtures/session-worker.ts', import.meta.url).href;
    const boot = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(file)}); })`;
    const worker = new Worker(boot, { eval: true });
    const result = await new Promise<{ provider: string; y: number[] }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    await worker.terminate();
    const row = (r: number) =>
      Array.from({ length: 300 }, (_, i) => (r * 300 + i) / 600).reduce((p, v) => p + v, 0);
    expect(result.y[0]).toBeCloseTo(row(0), 3);
    expect(result.y[1]).toBeCloseTo(row(1), 3);
    expect(['cpu', 'cuda']).toContain(result.provider);
  });
});
