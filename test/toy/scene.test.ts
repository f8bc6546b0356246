import { describe, expect, it } from 'vitest';
import { createRng } from '../../src/toy/random.js';
import { HELD_OUT, isHeldOut, type Scene, sampleScene, TRAINING_STAGES } from '../../src/toy/scene.js';
import { OBJECT_COLOURS, PATTERNS, SHAPES, SIZE_EXTENT_PX } from '../../src/toy/vocabulary.js';

function draw(seed: number, count: number, options: Parameters<typeof sampleScene>[1]): Scene[] {
  const rng = createRng(seed);
  return Array.from({ length: count }, () => sampleScene(rng, options));
}

describe('toy scene sampler', () => {
  const full = draw(1, 3000, TRAINING_STAGES.full);

  it('never yields a held-out combination for training, yet shows every shape, colour and pattern', () => {
    const objects = full.flatMap((scene) => scene.objects);
    expect(objects.filter(isHeldOut)).toEqual([]);
    for (const shape of SHAPES) expect(objects.some((o) => o.shape === shape)).toBe(true);
    for (const colour of OBJECT_COLOURS) expect(objects.some((o) => o.colour === colour)).toBe(true);
    for (const pattern of PATTERNS) expect(objects.some((o) => o.pattern === pattern)).toBe(true);
    // Each held-out pair's parts still appear, only never together.
    for (const entry of HELD_OUT) {
      for (const [key, value] of Object.entries(entry)) {
        expect(objects.some((o) => o[key as keyof typeof o] === value)).toBe(true);
      }
    }
  });

  it('never puts an object on its own colour, keeps objects inside the frame, apart, and sized by class', () => {
    const wrong: string[] = [];
    for (const scene of full) {
      for (const o of scene.objects) {
        const [lo, hi] = SIZE_EXTENT_PX[o.size];
        if (o.colour === scene.background) wrong.push(`${o.colour} on ${scene.background}`);
        if (o.extent * 64 < lo || o.extent * 64 > hi) wrong.push(`${o.size} of ${o.extent * 64} px`);
        for (const centre of [o.x, o.y]) {
          if (centre - o.extent / 2 < 1 / 64 || centre + o.extent / 2 > 63 / 64)
            wrong.push(`at ${o.x}, ${o.y}`);
        }
      }
      if (scene.objects.length === 2) {
        const [a, b] = scene.objects;
        const reach = (a.extent + b.extent) / 2;
        if (Math.abs(a.x - b.x) <= reach && Math.abs(a.y - b.y) <= reach) wrong.push('overlapping');
        if (a.size === 'large' && b.size === 'large') wrong.push('two large');
      }
    }
    expect(wrong).toEqual([]);
    const pairs = full.filter((scene) => scene.objects.length === 2);
    expect(pairs.length / full.length).toBeGreaterThan(0.27);
    expect(pairs.length / full.length).toBeLessThan(0.33);
    expect(pairs.some((scene) => scene.objects[1].size === 'large')).toBe(true);
  });

  it('starts simple: the basic stage has single plain objects only', () => {
    for (const scene of draw(2, 500, TRAINING_STAGES.basic)) {
      expect(scene.objects).toHaveLength(1);
      expect(scene.objects[0].pattern).toBe('plain');
    }
  });

  it('restricts attributes to the active sets', () => {
    const options = { shapes: ['ring', 'star'], colours: ['blue'], backgrounds: ['white', 'blue'] } as const;
    for (const scene of draw(3, 300, options)) {
      expect(scene.background).toBe('white');
      expect(['ring', 'star']).toContain(scene.objects[0].shape);
      expect(scene.objects[0].colour).toBe('blue');
      expect(isHeldOut(scene.objects[0])).toBe(false);
    }
  });

  it('on request draws subjects that training never shows', () => {
    const scenes = draw(4, 200, { heldOut: 'require' });
    for (const scene of scenes) expect(isHeldOut(scene.objects[0])).toBe(true);
    for (const entry of HELD_OUT) {
      expect(
        scenes.some((scene) => Object.entries(entry).every(([k, v]) => scene.objects[0][k as 'shape'] === v)),
      ).toBe(true);
    }
  });

  it('is deterministic by seed', () => {
    expect(draw(9, 50, TRAINING_STAGES.full)).toEqual(draw(9, 50, TRAINING_STAGES.full));
    expect(draw(9, 50, TRAINING_STAGES.full)).not.toEqual(draw(10, 50, TRAINING_STAGES.full));
  });

  it('refuses options that leave nothing to draw', () => {
    const rng = createRng(0);
    expect(() => sampleScene(rng, { shapes: [] })).toThrow(/must not be empty/);
    expect(() => sampleScene(rng, { shapes: ['hexagon' as 'ring'] })).toThrow(/unknown value hexagon/);
    expect(() => sampleScene(rng, { colours: ['red'], backgrounds: ['red'] })).toThrow(/no scene/);
    expect(() => sampleScene(rng, { shapes: ['ring'], patterns: ['striped'] })).toThrow(/no scene/);
    expect(() => sampleScene(rng, { heldOut: 'require', patterns: ['plain'], colours: ['red'] })).toThrow(
      /no held-out/,
    );
    expect(() => sampleScene(rng, { secondObjectChance: 2 })).toThrow(/secondObjectChance/);
    expect(() => sampleScene(rng, { secondObjectChance: 0.5, sizes: ['large'] })).toThrow(
      /two large objects/,
    );
  });
});
