/**
 * The prompts a toy model is evaluated on: one object named by size, colour, pattern (when not plain),
 * shape and background, worded by the world's own `captionFor` ('full' variant), so the text is what
 * training showed. Two fixed sets: combinations training saw, and the HELD_OUT ones it never did.
 */
import { captionFor } from '../caption.js';
import { isHeldOut, type Scene } from '../scene.js';
import type { BackgroundColour, ObjectColour, Pattern, ShapeName, SizeClass } from '../vocabulary.js';

export interface PromptSubject {
  shape: ShapeName;
  colour: ObjectColour;
  size: SizeClass;
  pattern: Pattern;
  background: BackgroundColour;
}

export interface EvalPrompt {
  text: string;
  subject: PromptSubject;
  /** The subject is a HELD_OUT combination. */
  heldOut: boolean;
}

const subject = (
  size: SizeClass,
  colour: ObjectColour,
  pattern: Pattern,
  shape: ShapeName,
  background: BackgroundColour,
): PromptSubject => ({ shape, colour, size, pattern, background });

/**
 * Twelve combinations training sees: every shape, colour and background twice, six of each size,
 * eight plain, two dotted, two striped. The first four (the --quick set) differ in every attribute.
 */
const SEEN: readonly PromptSubject[] = [
  subject('large', 'red', 'plain', 'circle', 'white'),
  subject('small', 'orange', 'plain', 'square', 'blue'),
  subject('large', 'yellow', 'striped', 'triangle', 'black'),
  subject('small', 'green', 'plain', 'cross', 'red'),
  subject('large', 'blue', 'plain', 'star', 'yellow'),
  subject('small', 'purple', 'dotted', 'ring', 'green'),
  subject('small', 'blue', 'dotted', 'circle', 'yellow'),
  subject('large', 'purple', 'striped', 'square', 'white'),
  subject('small', 'red', 'plain', 'triangle', 'green'),
  subject('large', 'orange', 'plain', 'cross', 'black'),
  subject('small', 'yellow', 'plain', 'star', 'blue'),
  subject('large', 'green', 'plain', 'ring', 'red'),
];

/** One prompt per HELD_OUT entry (same order), the attributes it leaves open filled in. */
const HELD_OUT_SUBJECTS: readonly PromptSubject[] = [
  subject('large', 'purple', 'plain', 'triangle', 'white'),
  subject('small', 'green', 'plain', 'star', 'black'),
  subject('large', 'orange', 'plain', 'circle', 'blue'),
  subject('large', 'red', 'striped', 'ring', 'yellow'),
  subject('small', 'blue', 'dotted', 'square', 'white'),
];

/** The scene a prompt describes (geometry is irrelevant to the caption and set to the frame's centre). */
function sceneOf(s: PromptSubject): Scene {
  const { background, ...attributes } = s;
  return { background, objects: [{ ...attributes, x: 0.5, y: 0.5, extent: 0.5 }] };
}

export function promptFor(s: PromptSubject): EvalPrompt {
  return { text: captionFor(sceneOf(s), 'full'), subject: s, heldOut: isHeldOut(s) };
}

/** The first `seen` of the seen prompts and the first `heldOut` of the held-out ones. */
export function evalPrompts(
  counts: { seen: number; heldOut: number } = {
    seen: SEEN.length,
    heldOut: HELD_OUT_SUBJECTS.length,
  },
): EvalPrompt[] {
  if (counts.seen > SEEN.length || counts.heldOut > HELD_OUT_SUBJECTS.length) {
    throw new RangeError(
      `at most ${SEEN.length} seen and ${HELD_OUT_SUBJECTS.length} held-out prompts, asked ${counts.seen} and ${counts.heldOut}`,
    );
  }
  return [...SEEN.slice(0, counts.seen), ...HELD_OUT_SUBJECTS.slice(0, counts.heldOut)].map(promptFor);
}

export const SEEN_PROMPT_COUNT = SEEN.length;
export const HELD_OUT_PROMPT_COUNT = HELD_OUT_SUBJECTS.length;
