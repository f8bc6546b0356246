/**
 * Scoring readings (`readScene`) against what an image should show, and adding the scores up: per
 * attribute (right / asked) and the share of images with every checked attribute right. One scorer
 * serves three questions: a generated image against its prompt, a render against its scene, and a
 * reconstruction's reading against the original's reading.
 */

import type { SceneReading } from '../read.js';
import type { Scene } from '../scene.js';
import type { BackgroundColour, ObjectColour, Pattern, ShapeName, SizeClass } from '../vocabulary.js';
import type { PromptSubject } from './prompts.js';

export const EVAL_ATTRIBUTES = ['shape', 'colour', 'background', 'size', 'pattern'] as const;
export type EvalAttribute = (typeof EVAL_ATTRIBUTES)[number];
type ObjectAttribute = Exclude<EvalAttribute, 'background'>;
const OBJECT_ATTRIBUTES: readonly ObjectAttribute[] = ['shape', 'colour', 'size', 'pattern'];

/** An attribute left undefined is not checked. */
export interface TargetObject {
  shape?: ShapeName;
  colour?: ObjectColour;
  size?: SizeClass;
  pattern?: Pattern;
  /** Centre (fractions of the frame): when given, the nearest read object is compared; else the i-th largest. */
  x?: number;
  y?: number;
}

export interface Target {
  background?: BackgroundColour;
  objects: TargetObject[];
}

export type AttributeCounts = Record<EvalAttribute, number>;

export interface Tally {
  images: number;
  /** Images with every checked attribute right (and at least one checked). */
  allCorrect: number;
  right: AttributeCounts;
  asked: AttributeCounts;
}

const zeros = (): AttributeCounts => ({ shape: 0, colour: 0, background: 0, size: 0, pattern: 0 });

export function emptyTally(): Tally {
  return { images: 0, allCorrect: 0, right: zeros(), asked: zeros() };
}

/** What a prompt names: shape, colour, size and background always; the pattern only when not plain. */
export function promptTarget(subject: PromptSubject): Target {
  const { shape, colour, size, pattern, background } = subject;
  return { background, objects: [{ shape, colour, size, ...(pattern === 'plain' ? {} : { pattern }) }] };
}

/** Everything a scene holds, positions included. */
export function sceneTarget(scene: Scene): Target {
  return {
    background: scene.background,
    objects: scene.objects.map(({ shape, colour, size, pattern, x, y }) => ({
      shape,
      colour,
      size,
      pattern,
      x,
      y,
    })),
  };
}

/** A reading as the target of another reading (a reconstruction against its original). */
export function readingTarget(reading: SceneReading): Target {
  return {
    background: reading.background,
    objects: reading.objects.map(({ shape, colour, size, pattern, x, y }) => ({
      shape,
      colour,
      size,
      pattern,
      x,
      y,
    })),
  };
}

/** The read object a target object is compared with: the nearest one when it has a centre, else the index-th. */
export function matchFor(target: TargetObject, index: number, reading: SceneReading) {
  if (target.x === undefined || target.y === undefined) return reading.objects[index];
  let best: (typeof reading.objects)[number] | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const o of reading.objects) {
    const d = Math.hypot(o.x - target.x, o.y - target.y);
    if (d < bestDistance) [best, bestDistance] = [o, d];
  }
  return best;
}

/** One image's score as a one-image tally. An object the reader did not find fails all its checks. */
export function scoreReading(target: Target, reading: SceneReading): Tally {
  const tally = emptyTally();
  tally.images = 1;
  const check = (attribute: EvalAttribute, ok: boolean) => {
    tally.asked[attribute]++;
    if (ok) tally.right[attribute]++;
  };
  if (target.background !== undefined) check('background', reading.background === target.background);
  target.objects.forEach((t, i) => {
    const read = matchFor(t, i, reading);
    for (const attribute of OBJECT_ATTRIBUTES) {
      if (t[attribute] !== undefined)
        check(attribute, read !== undefined && read[attribute] === t[attribute]);
    }
  });
  const asked = EVAL_ATTRIBUTES.reduce((n, a) => n + tally.asked[a], 0);
  const right = EVAL_ATTRIBUTES.reduce((n, a) => n + tally.right[a], 0);
  tally.allCorrect = asked > 0 && right === asked ? 1 : 0;
  return tally;
}

export function addTallies(...tallies: Tally[]): Tally {
  const sum = emptyTally();
  for (const t of tallies) {
    sum.images += t.images;
    sum.allCorrect += t.allCorrect;
    for (const a of EVAL_ATTRIBUTES) {
      sum.right[a] += t.right[a];
      sum.asked[a] += t.asked[a];
    }
  }
  return sum;
}

export interface Rates {
  images: number;
  /** Right / asked per attribute; null where nothing was asked. */
  attributes: Record<EvalAttribute, number | null>;
  allCorrect: number | null;
}

export function ratesOf(tally: Tally): Rates {
  const attributes = Object.fromEntries(
    EVAL_ATTRIBUTES.map((a) => [a, tally.asked[a] > 0 ? tally.right[a] / tally.asked[a] : null]),
  ) as Rates['attributes'];
  return {
    images: tally.images,
    attributes,
    allCorrect: tally.images > 0 ? tally.allCorrect / tally.images : null,
  };
}

/** Mean absolute difference of two equally long byte arrays (pixels on the 0–255 scale). */
export function meanAbsoluteError(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) throw new RangeError(`lengths differ: ${a.length} and ${b.length}`);
  if (a.length === 0) throw new RangeError('no pixels to compare');
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i] - b[i]);
  return sum / a.length;
}

/** Right / asked of one attribute for one kind of object (e.g. shape of small stars). */
export interface KindScore {
  right: number;
  asked: number;
}

/**
 * Where the misses are: shape right per "<size> <shape>" of the target objects, and pattern right per
 * pattern, of one reading against its target (targets without those attributes are skipped).
 */
export function scoreKinds(
  target: Target,
  reading: SceneReading,
  into: { shape: Map<string, KindScore>; pattern: Map<string, KindScore> },
): void {
  const add = (map: Map<string, KindScore>, key: string, ok: boolean) => {
    const k = map.get(key) ?? { right: 0, asked: 0 };
    k.asked++;
    if (ok) k.right++;
    map.set(key, k);
  };
  target.objects.forEach((t, i) => {
    const read = matchFor(t, i, reading);
    if (t.shape !== undefined && t.size !== undefined)
      add(into.shape, `${t.size} ${t.shape}`, read?.shape === t.shape);
    if (t.pattern !== undefined) add(into.pattern, t.pattern, read?.pattern === t.pattern);
  });
}
