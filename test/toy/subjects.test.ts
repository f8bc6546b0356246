import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { readScene } from '../../src/toy/read.js';
import { HELD_OUT } from '../../src/toy/scene.js';
import {
  classPrompt,
  identifierPrompt,
  isHeldOutSubject,
  pairPrompt,
  renderSubjectPhotos,
  SUBJECT_PHOTO_COUNT,
  SUBJECT_PHOTO_SEED,
  spelledOutPairPrompt,
  spelledOutPrompt,
  subjectScenes,
  TOY_SUBJECTS,
} from '../../src/toy/subjects.js';

const examples = join(import.meta.dirname, '..', '..', 'examples', 'subjects');

describe('toy-world subjects', () => {
  it('are at least four distinct instances with distinct identifiers, at least one held out of training', () => {
    expect(TOY_SUBJECTS.length).toBeGreaterThanOrEqual(4);
    const combos = TOY_SUBJECTS.map((s) => `${s.size} ${s.colour} ${s.pattern} ${s.shape}`);
    expect(new Set(combos).size).toBe(TOY_SUBJECTS.length);
    expect(new Set(TOY_SUBJECTS.map((s) => s.identifier)).size).toBe(TOY_SUBJECTS.length);
    expect(TOY_SUBJECTS.filter(isHeldOutSubject).length).toBeGreaterThanOrEqual(1);
    expect(HELD_OUT.length).toBeGreaterThan(0);
  });

  it('renders the same photos for the same seed and other photos for another seed', () => {
    const s = TOY_SUBJECTS[0];
    expect(renderSubjectPhotos(s, 4, 7)).toEqual(renderSubjectPhotos(s, 4, 7));
    expect(renderSubjectPhotos(s, 4, 8)).not.toEqual(renderSubjectPhotos(s, 4, 7));
  });

  it('puts each photo at another position and consecutive photos on other backgrounds, never the subject colour', () => {
    for (const s of TOY_SUBJECTS) {
      const scenes = subjectScenes(s, 8, 3);
      const centres = new Set(
        scenes.map((sc) => `${sc.objects[0].x.toFixed(3)},${sc.objects[0].y.toFixed(3)}`),
      );
      expect(centres.size).toBe(8);
      for (let i = 1; i < scenes.length; i++) expect(scenes[i].background).not.toBe(scenes[i - 1].background);
      expect(scenes.every((sc) => sc.background !== s.colour)).toBe(true);
    }
  });

  it('every photo reads back (toy attribute reader) as its subject on its background, over many seeds', () => {
    for (const s of TOY_SUBJECTS) {
      for (let seed = 0; seed < 10; seed++) {
        const scenes = subjectScenes(s, 4, seed);
        renderSubjectPhotos(s, 4, seed).forEach((rgb, i) => {
          const read = readScene(rgb);
          expect(read.objects).toHaveLength(1);
          const { shape, colour, size, pattern } = read.objects[0];
          expect({ shape, colour, size, pattern, bg: read.background }).toEqual({
            shape: s.shape,
            colour: s.colour,
            size: s.size,
            pattern: s.pattern,
            bg: scenes[i].background,
          });
        });
      }
    }
  });

  it('ships exactly the photos the script renders in examples/subjects/<name>/', async () => {
    for (const s of TOY_SUBJECTS) {
      const dir = join(examples, s.name);
      const files = readdirSync(dir)
        .filter((f) => f.endsWith('.png'))
        .sort();
      expect(files).toEqual(Array.from({ length: SUBJECT_PHOTO_COUNT }, (_, i) => `${i + 1}.png`));
      const rendered = renderSubjectPhotos(s, SUBJECT_PHOTO_COUNT, SUBJECT_PHOTO_SEED);
      for (const [i, f] of files.entries()) {
        const { data, info } = await sharp(readFileSync(join(dir, f)))
          .raw()
          .toBuffer({ resolveWithObject: true });
        expect([info.width, info.height, info.channels]).toEqual([64, 64, 3]);
        expect(new Uint8Array(data)).toEqual(rendered[i]);
      }
    }
  });

  it('words prompts as the evaluation needs them', () => {
    const [star, ring] = TOY_SUBJECTS;
    expect(identifierPrompt(star, 'blue')).toBe('a photo of a sks star on a blue background');
    expect(classPrompt(star, 'white')).toBe('a photo of a star on a white background');
    expect(spelledOutPrompt(star, 'black')).toBe(
      'a photo of a small green dotted star on a black background',
    );
    expect(pairPrompt(star, ring, 'white')).toBe(
      'a photo of a sks star and a zwx ring on a white background',
    );
    expect(spelledOutPairPrompt(ring, star, 'blue')).toBe(
      'a photo of a large orange striped ring and a small green dotted star on a blue background',
    );
  });
});
