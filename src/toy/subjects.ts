/**
 * Toy-world subjects for Cones (issue #12): specific instances of a class — the class is the shape
 * ("star"), the instance a fixed colour, size and pattern inside that class's variation — each with a
 * rare identifier token, and their "photos": the subject alone at seeded positions on varying backgrounds.
 */
import { captionFor } from './caption.js';
import { createRng } from './random.js';
import { renderScene } from './render.js';
import { isHeldOut, type Scene, type ToyObject } from './scene.js';
import {
  BACKGROUND_COLOURS,
  type BackgroundColour,
  type ObjectColour,
  type Pattern,
  type ShapeName,
  SIZE_EXTENT_PX,
  type SizeClass,
} from './vocabulary.js';

export interface ToySubject {
  /** Folder name under examples/subjects/ and label in reports. */
  name: string;
  /** The rare token that names this subject in prompts ("a photo of a sks star"). */
  identifier: string;
  shape: ShapeName;
  colour: ObjectColour;
  size: SizeClass;
  pattern: Pattern;
}

const subject = (
  name: string,
  identifier: string,
  size: SizeClass,
  colour: ObjectColour,
  pattern: Pattern,
  shape: ShapeName,
): ToySubject => ({ name, identifier, shape, colour, size, pattern });

/**
 * The subjects. Identifiers are DreamBooth-style rare tokens (the first is Extract Concept's default,
 * 'sks'), distinct so that two concepts can be merged and named in one prompt. The first two are
 * HELD_OUT combinations (star + green, ring + striped): the model never saw them in training.
 */
export const TOY_SUBJECTS: readonly ToySubject[] = [
  subject('green-dotted-star', 'sks', 'small', 'green', 'dotted', 'star'),
  subject('orange-striped-ring', 'zwx', 'large', 'orange', 'striped', 'ring'),
  subject('red-striped-square', 'qlv', 'large', 'red', 'striped', 'square'),
  subject('blue-dotted-triangle', 'vbn', 'small', 'blue', 'dotted', 'triangle'),
  subject('purple-plain-cross', 'xjy', 'small', 'purple', 'plain', 'cross'),
];

export function subjectByName(name: string): ToySubject {
  const found = TOY_SUBJECTS.find((s) => s.name === name);
  if (!found)
    throw new RangeError(`no toy subject '${name}'; known: ${TOY_SUBJECTS.map((s) => s.name).join(', ')}`);
  return found;
}

export function isHeldOutSubject(s: ToySubject): boolean {
  return isHeldOut(s);
}

/** The class noun of a subject: its shape. */
export function classNounOf(s: ToySubject): string {
  return s.shape;
}

/** Backgrounds a subject can be shown on: every background except its own colour (it would vanish). */
export function subjectBackgrounds(s: ToySubject): BackgroundColour[] {
  return BACKGROUND_COLOURS.filter((bg) => bg !== s.colour);
}

/** The subject as a scene object at (x, y) with the given extent (fractions of the frame). */
function objectOf(s: ToySubject, x: number, y: number, extent: number): ToyObject {
  return { shape: s.shape, colour: s.colour, size: s.size, pattern: s.pattern, x, y, extent };
}

/**
 * `count` scenes of the subject alone, deterministic by seed: photo i is on background i of a seeded
 * rotation of the allowed backgrounds (so consecutive photos differ), at a seeded position and extent
 * inside its size class, clear of the frame's edges.
 */
export function subjectScenes(s: ToySubject, count: number, seed: number): Scene[] {
  if (!Number.isInteger(count) || count < 1)
    throw new RangeError(`count must be a positive integer, got ${count}`);
  const rng = createRng(seed);
  const backgrounds = subjectBackgrounds(s);
  const offset = rng.int(backgrounds.length);
  const [lo, hi] = SIZE_EXTENT_PX[s.size];
  return Array.from({ length: count }, (_, i) => {
    const extent = rng.uniform(lo, hi) / 64;
    const margin = extent / 2 + 2 / 64;
    const x = rng.uniform(margin, 1 - margin);
    const y = rng.uniform(margin, 1 - margin);
    return {
      background: backgrounds[(offset + i) % backgrounds.length],
      objects: [objectOf(s, x, y, extent)],
    };
  });
}

/** The subject's photos: `subjectScenes` rendered at `size` px (RGB, HWC). Deterministic by seed. */
export function renderSubjectPhotos(s: ToySubject, count: number, seed: number, size = 64): Uint8Array[] {
  return subjectScenes(s, count, seed).map((scene) => renderScene(scene, size));
}

/** Seed of the shipped photos in examples/subjects/ (scripts/make-subject-photos.ts). */
export const SUBJECT_PHOTO_SEED = 12;
/** Photos per subject, as the issue asks. */
export const SUBJECT_PHOTO_COUNT = 4;

/** A prompt naming the subject by identifier and class: "a photo of a sks star on a blue background". */
export function identifierPrompt(s: ToySubject, background?: BackgroundColour): string {
  return classPrompt(s, background, s.identifier);
}

/** The class prompt without the identifier (or with `identifier` put before the class noun). */
export function classPrompt(s: ToySubject, background?: BackgroundColour, identifier?: string): string {
  const noun = identifier ? `${identifier} ${classNounOf(s)}` : classNounOf(s);
  const article = /^[aeiou]/.test(noun) ? 'an' : 'a';
  return `a photo of ${article} ${noun}${background ? ` on ${/^[aeiou]/.test(background) ? 'an' : 'a'} ${background} background` : ''}`;
}

/** The best a prompt alone can do: every attribute spelled out, in the training captions' own words. */
export function spelledOutPrompt(s: ToySubject, background: BackgroundColour): string {
  return captionFor({ background, objects: [objectOf(s, 0.5, 0.5, 0.5)] }, 'full');
}

/** Both subjects spelled out in one training-style caption: the best a prompt alone does for the pair. */
export function spelledOutPairPrompt(a: ToySubject, b: ToySubject, background: BackgroundColour): string {
  return captionFor(
    { background, objects: [objectOf(a, 0.3, 0.3, 0.5), objectOf(b, 0.7, 0.7, 0.3)] },
    'full',
  );
}

/** Two subjects named together: "a photo of a sks star and a zwx ring on a white background". */
export function pairPrompt(a: ToySubject, b: ToySubject, background: BackgroundColour): string {
  const first = classPrompt(a, undefined, a.identifier);
  const second = classPrompt(b, undefined, b.identifier).replace(/^a photo of /, '');
  return `${first} and ${second} on ${/^[aeiou]/.test(background) ? 'an' : 'a'} ${background} background`;
}
