/**
 * How the Cones evaluation scores images (bench/cones-eval/stats.ts), checked on rendered toy scenes,
 * and that the attribute reader it relies on is a fixed, hand-written function: it imports nothing from
 * the evaluation, keeps no state, and reads the same image the same way before and after reading others
 * (it cannot be tuned on the eval images).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  attributeCounts,
  attributeMatches,
  attributeTv,
  share,
  showsBoth,
  showsSubject,
  tvDistance,
} from '../../bench/cones-eval/stats.js';
import { readScene } from '../../src/toy/read.js';
import { renderScene } from '../../src/toy/render.js';
import type { Scene } from '../../src/toy/scene.js';
import { renderSubjectPhotos, subjectByName, type ToySubject } from '../../src/toy/subjects.js';

const star = subjectByName('green-dotted-star');
const square = subjectByName('red-striped-square');

function two(a: ToySubject, b: ToySubject): Scene {
  const obj = (s: ToySubject, x: number, extent: number) => ({
    shape: s.shape,
    colour: s.colour,
    size: s.size,
    pattern: s.pattern,
    x,
    y: 0.5,
    extent,
  });
  return { background: 'white', objects: [obj(a, 0.2, 18 / 64), obj(b, 0.68, 33 / 64)] };
}

describe('Cones evaluation scoring', () => {
  it('a share carries its binomial standard error', () => {
    expect(share(3, 12)).toEqual({ hits: 3, n: 12, p: 0.25, se: Math.sqrt((0.25 * 0.75) / 12) });
    expect(share(0, 0).p).toBe(0);
  });

  it('a subject photo shows its subject and not another one', () => {
    for (const rgb of renderSubjectPhotos(star, 4, 1)) {
      expect(showsSubject(readScene(rgb), star)).toBe(true);
      expect(showsSubject(readScene(rgb), square)).toBe(false);
    }
  });

  it('scores each attribute alone: a subject photo read against another subject matches only what they share', () => {
    const readings = renderSubjectPhotos(star, 4, 1).map((rgb) => readScene(rgb));
    const own = attributeMatches(readings, star);
    for (const a of ['shape', 'colour', 'size', 'pattern'] as const) expect(own[a].p).toBe(1);
    // A large red striped square shares nothing with a small green dotted star; a small green plain star shares three.
    const other = attributeMatches(readings, square);
    for (const a of ['shape', 'colour', 'size', 'pattern'] as const) expect(other[a].p).toBe(0);
    const plain = attributeMatches(readings, { ...star, pattern: 'plain' });
    expect([plain.shape.p, plain.colour.p, plain.size.p, plain.pattern.p]).toEqual([1, 1, 1, 0]);
  });

  it('two subjects in one frame count as both correct, one alone does not', () => {
    const both = readScene(renderScene(two(star, square)));
    expect(showsBoth(both, star, square)).toBe(true);
    expect(showsBoth(both, square, star)).toBe(true);
    const alone = readScene(renderSubjectPhotos(star, 1, 0)[0]);
    expect(showsBoth(alone, star, square)).toBe(false);
    expect(showsBoth(alone, star, star)).toBe(false);
  });

  it('TV distance: 0 for equal distributions, 1 for disjoint ones, ½Σ|p − q| between', () => {
    const m = (o: Record<string, number>) => new Map(Object.entries(o));
    expect(tvDistance(m({ a: 2, b: 2 }), m({ a: 5, b: 5 }))).toBe(0);
    expect(tvDistance(m({ a: 1 }), m({ b: 3 }))).toBe(1);
    expect(tvDistance(m({ a: 3, b: 1 }), m({ a: 1, b: 1 }))).toBeCloseTo(0.25, 12);
    const readings = renderSubjectPhotos(star, 4, 2).map((rgb) => readScene(rgb));
    const same = attributeTv(attributeCounts(readings), attributeCounts(readings));
    expect(same.mean).toBe(0);
    const other = renderSubjectPhotos(square, 4, 2).map((rgb) => readScene(rgb));
    const apart = attributeTv(attributeCounts(readings), attributeCounts(other));
    expect(apart.perAttribute.shape).toBe(1);
    expect(apart.perAttribute.colour).toBe(1);
  });
});

describe('the attribute reader is not tuned on the evaluation', () => {
  it('imports only the toy world’s own modules: nothing from eval, subjects, files or models', () => {
    const source = readFileSync(join(import.meta.dirname, '..', '..', 'src', 'toy', 'read.ts'), 'utf8');
    const imports = [...source.matchAll(/from '([^']+)'/g)].map((x) => x[1]).sort();
    expect(imports.length).toBeGreaterThan(0);
    // Only the world's own modules: no file or network access, no eval code, no subjects, no models.
    for (const from of imports) expect(from).toMatch(/^\.\/(?!eval\/|subjects|examples)[a-z-]+\.js$/);
  });

  it('reads an image identically before and after reading many other images (no state to tune)', () => {
    const probe = renderSubjectPhotos(square, 1, 5)[0];
    const before = JSON.stringify(readScene(probe));
    for (let seed = 0; seed < 20; seed++)
      for (const rgb of renderSubjectPhotos(star, 4, seed)) readScene(rgb);
    const noise = new Uint8Array(64 * 64 * 3).map((_, i) => (i * 7919) % 251);
    readScene(noise);
    expect(JSON.stringify(readScene(probe))).toBe(before);
  });
});
