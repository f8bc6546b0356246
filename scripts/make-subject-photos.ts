/**
 * `npx tsx scripts/make-subject-photos.ts [--out DIR]` — renders the toy-world subjects' photos
 * (src/toy/subjects.ts) into examples/subjects/<subject>/1.png … 4.png, byte for byte the same on
 * every run (seeded), for Load Subject Photos and the Cones evaluation (bench/cones-eval.ts).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import {
  renderSubjectPhotos,
  SUBJECT_PHOTO_COUNT,
  SUBJECT_PHOTO_SEED,
  TOY_SUBJECTS,
} from '../src/toy/subjects.js';

const { values } = parseArgs({ options: { out: { type: 'string' } } });
const root = values.out ?? join(import.meta.dirname, '..', 'examples', 'subjects');
for (const subject of TOY_SUBJECTS) {
  const dir = join(root, subject.name);
  await mkdir(dir, { recursive: true });
  const photos = renderSubjectPhotos(subject, SUBJECT_PHOTO_COUNT, SUBJECT_PHOTO_SEED);
  for (const [i, rgb] of photos.entries()) {
    const png = await sharp(Buffer.from(rgb), { raw: { width: 64, height: 64, channels: 3 } })
      .png({ compressionLevel: 9 })
      .toBuffer();
    await writeFile(join(dir, `${i + 1}.png`), png);
  }
  process.stdout.write(`${dir}: ${photos.length} photos of the ${subject.name} ("${subject.identifier}")\n`);
}
