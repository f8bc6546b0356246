/**
 * The Cones evaluation's statistics: shares with their standard errors, reading an image against a
 * subject (all four object attributes, and the background), the two-subject check, and the
 * total-variation distance between attribute distributions.
 */
import type { SceneReading } from '../../src/toy/read.js';
import type { ToySubject } from '../../src/toy/subjects.js';
import type { BackgroundColour } from '../../src/toy/vocabulary.js';

export interface Share {
  /** Images that passed / images. */
  hits: number;
  n: number;
  p: number;
  /** Binomial standard error √(p(1 − p)/n). */
  se: number;
}

export function share(hits: number, n: number): Share {
  const p = n > 0 ? hits / n : 0;
  return { hits, n, p, se: n > 0 ? Math.sqrt((p * (1 - p)) / n) : 0 };
}

type ReadObject = SceneReading['objects'][number];

export function objectIsSubject(o: ReadObject | undefined, s: ToySubject): boolean {
  return (
    o !== undefined &&
    o.shape === s.shape &&
    o.colour === s.colour &&
    o.size === s.size &&
    o.pattern === s.pattern
  );
}

/** The largest read object is the subject (all of shape, colour, size and pattern). */
export function showsSubject(reading: SceneReading, s: ToySubject): boolean {
  return objectIsSubject(reading.objects[0], s);
}

/** Each subject matched by a different read object. */
export function showsBoth(reading: SceneReading, a: ToySubject, b: ToySubject): boolean {
  const objects = reading.objects;
  return objects.some(
    (x, i) => objectIsSubject(x, a) && objects.some((y, j) => j !== i && objectIsSubject(y, b)),
  );
}

/** The object attributes a subject fixes, each checked on the largest read object. */
export const SUBJECT_ATTRIBUTES = ['shape', 'colour', 'size', 'pattern'] as const;
export type SubjectAttribute = (typeof SUBJECT_ATTRIBUTES)[number];

/** Per attribute: the share of images whose largest read object has the subject's value. */
export function attributeMatches(
  readings: readonly SceneReading[],
  s: ToySubject,
): Record<SubjectAttribute, Share> {
  return Object.fromEntries(
    SUBJECT_ATTRIBUTES.map((a) => [
      a,
      share(
        readings.filter((r) => r.objects[0] !== undefined && r.objects[0][a] === s[a]).length,
        readings.length,
      ),
    ]),
  ) as Record<SubjectAttribute, Share>;
}

export interface FidelityTally {
  images: number;
  /** The subject with every attribute right. */
  subject: number;
  /** The background the prompt asked for. */
  background: number;
}

export function tallyFidelity(
  readings: readonly SceneReading[],
  backgrounds: readonly BackgroundColour[],
  s: ToySubject,
): FidelityTally {
  let subject = 0;
  let background = 0;
  readings.forEach((r, i) => {
    if (showsSubject(r, s)) subject++;
    if (r.background === backgrounds[i]) background++;
  });
  return { images: readings.length, subject, background };
}

/** Attributes whose distribution "prior kept" compares (of the largest read object; 'none' when none). */
export const PRIOR_ATTRIBUTES = ['shape', 'colour', 'size', 'pattern', 'background'] as const;
export type PriorAttribute = (typeof PRIOR_ATTRIBUTES)[number];
export type AttributeCounts = Record<PriorAttribute, Map<string, number>>;

export function attributeCounts(readings: readonly SceneReading[]): AttributeCounts {
  const counts = Object.fromEntries(
    PRIOR_ATTRIBUTES.map((a) => [a, new Map<string, number>()]),
  ) as AttributeCounts;
  for (const r of readings) {
    const o = r.objects[0];
    for (const a of PRIOR_ATTRIBUTES) {
      const value = a === 'background' ? r.background : (o?.[a] ?? 'none');
      counts[a].set(value, (counts[a].get(value) ?? 0) + 1);
    }
  }
  return counts;
}

/** ½ Σ |p − q| of two empirical distributions. */
export function tvDistance(p: ReadonlyMap<string, number>, q: ReadonlyMap<string, number>): number {
  const np = [...p.values()].reduce((a, b) => a + b, 0);
  const nq = [...q.values()].reduce((a, b) => a + b, 0);
  if (np === 0 || nq === 0) throw new RangeError('tvDistance of an empty distribution');
  let sum = 0;
  for (const key of new Set([...p.keys(), ...q.keys()]))
    sum += Math.abs((p.get(key) ?? 0) / np - (q.get(key) ?? 0) / nq);
  return sum / 2;
}

/** TV distance per attribute and their mean. */
export function attributeTv(
  a: AttributeCounts,
  b: AttributeCounts,
): { perAttribute: Record<PriorAttribute, number>; mean: number } {
  const perAttribute = Object.fromEntries(PRIOR_ATTRIBUTES.map((k) => [k, tvDistance(a[k], b[k])])) as Record<
    PriorAttribute,
    number
  >;
  const mean = PRIOR_ATTRIBUTES.reduce((s, k) => s + perAttribute[k], 0) / PRIOR_ATTRIBUTES.length;
  return { perAttribute, mean };
}
