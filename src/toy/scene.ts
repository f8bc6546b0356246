import type { Rng } from './random.js';
import {
  BACKGROUND_COLOURS,
  type BackgroundColour,
  OBJECT_COLOURS,
  type ObjectColour,
  PATTERNS,
  type Pattern,
  SHAPES,
  type ShapeName,
  SIZE_EXTENT_PX,
  SIZES,
  type SizeClass,
} from './vocabulary.js';

/** One object of a toy scene. Geometry is in fractions of the frame, so a scene renders at any size. */
export interface ToyObject {
  shape: ShapeName;
  colour: ObjectColour;
  size: SizeClass;
  pattern: Pattern;
  /** Centre of the object's box. */
  x: number;
  y: number;
  /** Longer side of the object's box. */
  extent: number;
}

export interface Scene {
  background: BackgroundColour;
  /** The subject first; an optional second object never overlaps it. */
  objects: ToyObject[];
}

/**
 * Attribute combinations never shown in training, so that later tests can ask for what the model never saw.
 * An object matches an entry when it has every attribute the entry names.
 */
export const HELD_OUT: readonly Readonly<Partial<Pick<ToyObject, 'shape' | 'colour' | 'pattern'>>>[] = [
  { shape: 'triangle', colour: 'purple' },
  { shape: 'star', colour: 'green' },
  { shape: 'circle', colour: 'orange' },
  { shape: 'ring', pattern: 'striped' },
  { shape: 'square', pattern: 'dotted' },
];

export function isHeldOut(object: Pick<ToyObject, 'shape' | 'colour' | 'pattern'>): boolean {
  return HELD_OUT.some((entry) =>
    (Object.keys(entry) as (keyof typeof entry)[]).every((key) => entry[key] === object[key]),
  );
}

/** Which part of the world a sampler draws from. Every list defaults to the whole vocabulary. */
export interface SceneSamplerOptions {
  shapes?: readonly ShapeName[];
  colours?: readonly ObjectColour[];
  backgrounds?: readonly BackgroundColour[];
  sizes?: readonly SizeClass[];
  patterns?: readonly Pattern[];
  /** Probability of a second object (default 0). */
  secondObjectChance?: number;
  /**
   * 'exclude' (default, for training): no object matches HELD_OUT. 'allow': anything goes.
   * 'require': the subject matches a HELD_OUT entry (for asking what training never showed).
   */
  heldOut?: 'exclude' | 'allow' | 'require';
}

/** Curriculum presets: start with single plain objects, then add patterns, then second objects. */
export const TRAINING_STAGES = {
  basic: { patterns: ['plain'], secondObjectChance: 0 },
  patterns: { secondObjectChance: 0 },
  full: { secondObjectChance: 0.3 },
} as const satisfies Record<string, SceneSamplerOptions>;

const FRAME_PX = 64;
/** Objects keep this far from the frame's edges and from each other (pixels of a 64×64 frame). */
const MARGIN_PX = 1;
const GAP_PX = 3;
const MAX_TRIES = 1000;

function activeList<T>(name: string, given: readonly T[] | undefined, all: readonly T[]): readonly T[] {
  if (given === undefined) return all;
  if (given.length === 0) throw new RangeError(`sampler option ${name} must not be empty`);
  for (const item of given) {
    if (!all.includes(item)) throw new RangeError(`sampler option ${name}: unknown value ${String(item)}`);
  }
  return given;
}

interface ActiveSets {
  shapes: readonly ShapeName[];
  colours: readonly ObjectColour[];
  backgrounds: readonly BackgroundColour[];
  sizes: readonly SizeClass[];
  patterns: readonly Pattern[];
}

function activeSets(options: SceneSamplerOptions): ActiveSets {
  return {
    shapes: activeList('shapes', options.shapes, SHAPES),
    colours: activeList('colours', options.colours, OBJECT_COLOURS),
    backgrounds: activeList('backgrounds', options.backgrounds, BACKGROUND_COLOURS),
    sizes: activeList('sizes', options.sizes, SIZES),
    patterns: activeList('patterns', options.patterns, PATTERNS),
  };
}

type Attributes = Pick<ToyObject, 'shape' | 'colour' | 'size' | 'pattern'>;

function drawAttributes(
  rng: Rng,
  sets: ActiveSets,
  fixed: Partial<Attributes> = {},
  sizes: readonly SizeClass[] = sets.sizes,
): Attributes {
  return {
    shape: fixed.shape ?? rng.pick(sets.shapes),
    colour: fixed.colour ?? rng.pick(sets.colours),
    size: rng.pick(sizes),
    pattern: fixed.pattern ?? rng.pick(sets.patterns),
  };
}

function drawExtent(rng: Rng, size: SizeClass): number {
  const [lo, hi] = SIZE_EXTENT_PX[size];
  return rng.uniform(lo, hi) / FRAME_PX;
}

function drawCentre(rng: Rng, extent: number): number {
  const lo = extent / 2 + MARGIN_PX / FRAME_PX;
  return rng.uniform(lo, 1 - lo);
}

function apart(a: ToyObject, b: ToyObject): boolean {
  const reach = (a.extent + b.extent) / 2 + GAP_PX / FRAME_PX;
  return Math.abs(a.x - b.x) >= reach || Math.abs(a.y - b.y) >= reach;
}

/** Places an object clear of the others (redrawing its extent too, which matters little: one is small). */
function place(rng: Rng, attributes: Attributes, others: readonly ToyObject[]): ToyObject | undefined {
  for (let i = 0; i < 100; i++) {
    const extent = drawExtent(rng, attributes.size);
    const object = { ...attributes, x: drawCentre(rng, extent), y: drawCentre(rng, extent), extent };
    if (others.every((other) => apart(object, other))) return object;
  }
  return undefined;
}

function heldOutSubject(rng: Rng, sets: ActiveSets): Partial<Attributes> {
  const reachable = HELD_OUT.filter(
    (entry) =>
      (entry.shape === undefined || sets.shapes.includes(entry.shape)) &&
      (entry.colour === undefined || sets.colours.includes(entry.colour)) &&
      (entry.pattern === undefined || sets.patterns.includes(entry.pattern)),
  );
  if (reachable.length === 0) throw new RangeError('no held-out combination is possible with these options');
  return rng.pick(reachable);
}

/** Draws one scene. Deterministic given the generator's state. */
export function sampleScene(rng: Rng, options: SceneSamplerOptions = {}): Scene {
  const sets = activeSets(options);
  const heldOut = options.heldOut ?? 'exclude';
  const secondChance = options.secondObjectChance ?? 0;
  if (!(secondChance >= 0 && secondChance <= 1)) {
    throw new RangeError(`secondObjectChance must be in [0, 1], got ${secondChance}`);
  }
  if (secondChance > 0 && !sets.sizes.includes('small')) {
    throw new RangeError('a second object needs the small size: two large objects do not fit in the frame');
  }
  // The object count is drawn once, so that redrawing (held-out pairs, no room) does not change its odds.
  const count = rng.chance(secondChance) ? 2 : 1;
  for (let attempt = 0; attempt < MAX_TRIES; attempt++) {
    const subjectFixed = heldOut === 'require' ? heldOutSubject(rng, sets) : {};
    const drawn = [drawAttributes(rng, sets, subjectFixed)];
    // Two large objects (30–36 px each) do not fit side by side in 64 px: a large subject gets a small companion.
    if (count === 2) {
      drawn.push(drawAttributes(rng, sets, {}, drawn[0].size === 'large' ? ['small'] : sets.sizes));
    }
    if (heldOut === 'exclude' && drawn.some(isHeldOut)) continue;
    const backgrounds = sets.backgrounds.filter((bg) => drawn.every((o) => o.colour !== bg));
    if (backgrounds.length === 0) continue;
    const background = rng.pick(backgrounds);
    const objects: ToyObject[] = [];
    for (const attributes of drawn) {
      const object = place(rng, attributes, objects);
      if (object === undefined) break;
      objects.push(object);
    }
    if (objects.length === drawn.length) return { background, objects };
  }
  throw new RangeError('these sampler options leave no scene that can be drawn');
}
