import type { Rng } from './random.js';
import type { Scene, ToyObject } from './scene.js';

/**
 * Caption templates. Every variant names each object's shape; the others leave attributes out.
 * The pattern word appears only when the pattern is not plain.
 */
export const CAPTION_VARIANTS = {
  full: { photo: true, size: true, colour: true, pattern: true, background: true },
  'no-background': { photo: true, size: true, colour: true, pattern: true, background: false },
  'colour-shape-background': { photo: true, size: false, colour: true, pattern: false, background: true },
  shape: { photo: true, size: false, colour: false, pattern: false, background: false },
  'colour-shape': { photo: false, size: false, colour: true, pattern: false, background: false },
  'size-shape': { photo: false, size: true, colour: false, pattern: false, background: false },
  'pattern-shape': { photo: false, size: false, colour: false, pattern: true, background: false },
  'shape-background': { photo: false, size: false, colour: false, pattern: false, background: true },
} as const;
export type CaptionVariant = keyof typeof CAPTION_VARIANTS;
export const CAPTION_VARIANT_NAMES = Object.keys(CAPTION_VARIANTS) as CaptionVariant[];

/** 'an' before a vowel ("an orange ring"), 'a' otherwise. */
function withArticle(phrase: string): string {
  return (/^[aeiou]/.test(phrase) ? 'an ' : 'a ') + phrase;
}

function describe(object: ToyObject, fields: (typeof CAPTION_VARIANTS)[CaptionVariant]): string {
  const words: string[] = [];
  if (fields.size) words.push(object.size);
  if (fields.colour) words.push(object.colour);
  if (fields.pattern && object.pattern !== 'plain') words.push(object.pattern);
  words.push(object.shape);
  return withArticle(words.join(' '));
}

/** e.g. "a photo of a large orange striped ring on a blue background" for the 'full' variant. */
export function captionFor(scene: Scene, variant: CaptionVariant = 'full'): string {
  const fields = CAPTION_VARIANTS[variant];
  if (fields === undefined) throw new RangeError(`unknown caption variant ${String(variant)}`);
  let text = scene.objects.map((object) => describe(object, fields)).join(' and ');
  if (fields.background) text += ` on ${withArticle(scene.background)} background`;
  return fields.photo ? `a photo of ${text}` : text;
}

/** Probability that a random caption is the full one; the other variants share the rest evenly. */
export const FULL_CAPTION_CHANCE = 0.5;

export function randomCaptionVariant(rng: Rng): CaptionVariant {
  if (rng.chance(FULL_CAPTION_CHANCE)) return 'full';
  return rng.pick(CAPTION_VARIANT_NAMES.filter((name) => name !== 'full'));
}

export function randomCaption(scene: Scene, rng: Rng): string {
  return captionFor(scene, randomCaptionVariant(rng));
}
