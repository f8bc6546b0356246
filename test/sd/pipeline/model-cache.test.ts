import { describe, expect, it } from 'vitest';
import { ModelCache } from '../../../src/sd/pipeline/model-cache.js';

class Resource {
  released = false;
  constructor(
    readonly name: string,
    readonly size: number,
  ) {}
  bytes() {
    return this.released ? 0 : this.size;
  }
  release() {
    this.released = true;
  }
}

describe('ModelCache', () => {
  it('loads a model once and shares it between callers', async () => {
    const cache = new ModelCache<Resource>(100);
    let loads = 0;
    const load = async () => {
      loads++;
      await new Promise((r) => setTimeout(r, 5));
      return new Resource('a', 10);
    };
    const [x, y] = await Promise.all([
      cache.with('a', load, async (r) => r),
      cache.with('a', load, async (r) => r),
    ]);
    expect(loads).toBe(1);
    expect(x).toBe(y);
  });

  it('releases the least recently used model when a new one needs the memory', async () => {
    const cache = new ModelCache<Resource>(25);
    const a = await cache.with(
      'a',
      async () => new Resource('a', 10),
      async (r) => r,
    );
    const b = await cache.with(
      'b',
      async () => new Resource('b', 10),
      async (r) => r,
    );
    await cache.with(
      'a',
      async () => new Resource('a2', 10),
      async (r) => r,
    ); // a is now more recent than b
    const c = await cache.with(
      'c',
      async () => new Resource('c', 10),
      async (r) => r,
      10,
    );
    expect(b.released).toBe(true);
    expect(a.released).toBe(false);
    expect(c.released).toBe(false);
    expect(cache.keys().sort()).toEqual(['a', 'c']);
  });

  it('never releases a model while it is in use', async () => {
    const cache = new ModelCache<Resource>(10);
    let resolveUse!: () => void;
    const inUse = new Promise<void>((r) => {
      resolveUse = r;
    });
    let first!: Resource;
    const running = cache.with(
      'a',
      async () => new Resource('a', 10),
      async (r) => {
        first = r;
        await inUse;
      },
    );
    await new Promise((r) => setTimeout(r, 1));
    const second = await cache.with(
      'b',
      async () => new Resource('b', 10),
      async (r) => r,
      10,
    );
    expect(first.released).toBe(false);
    resolveUse();
    await running;
    // over budget once 'a' is unpinned: the least recently used one goes
    expect(first.released || second.released).toBe(true);
    expect(cache.usedBytes()).toBeLessThanOrEqual(10);
  });

  it('releaseAll frees every idle model (ComfyUI /free)', async () => {
    const cache = new ModelCache<Resource>(100);
    const a = await cache.with(
      'a',
      async () => new Resource('a', 10),
      async (r) => r,
    );
    expect(await cache.releaseAll()).toEqual(['a']);
    expect(a.released).toBe(true);
    expect(cache.usedBytes()).toBe(0);
  });

  it('forgets a failed load so the next call retries', async () => {
    const cache = new ModelCache<Resource>(100);
    await expect(
      cache.with(
        'a',
        async () => {
          throw new Error('disk on fire');
        },
        async (r) => r,
      ),
    ).rejects.toThrow('disk on fire');
    const r = await cache.with(
      'a',
      async () => new Resource('a', 1),
      async (x) => x,
    );
    expect(r.name).toBe('a');
  });
});
