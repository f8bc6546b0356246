import { createRng } from '../../src/toy/random.js';
import { readScene, type SceneReading } from '../../src/toy/read.js';
import { renderScene } from '../../src/toy/render.js';
import { type Scene, type SceneSamplerOptions, sampleScene } from '../../src/toy/scene.js';

/** Per-attribute accuracy of the reader over rendered scenes, each object matched to the nearest read one. */

export const ATTRIBUTES = ['background', 'count', 'shape', 'colour', 'size', 'pattern', 'position'] as const;
export type Attribute = (typeof ATTRIBUTES)[number];
export type Accuracy = Record<Attribute, number>;

/** A read centre within this distance (fraction of the frame, 2 px at 64) is the right position. */
const POSITION_TOLERANCE = 2 / 64;

export interface Miss {
  scene: Scene;
  reading: SceneReading;
  attribute: Attribute;
}

export function measureAccuracy(
  seed: number,
  count: number,
  degrade: (rgb: Uint8Array) => Uint8Array = (rgb) => rgb,
  options: SceneSamplerOptions = { secondObjectChance: 0.3, heldOut: 'allow' },
): { accuracy: Accuracy; misses: Miss[] } {
  const rng = createRng(seed);
  const right = Object.fromEntries(ATTRIBUTES.map((a) => [a, 0])) as Accuracy;
  const asked = Object.fromEntries(ATTRIBUTES.map((a) => [a, 0])) as Accuracy;
  const misses: Miss[] = [];
  const tally = (attribute: Attribute, ok: boolean, scene: Scene, reading: SceneReading) => {
    asked[attribute]++;
    if (ok) right[attribute]++;
    else misses.push({ scene, reading, attribute });
  };
  for (let n = 0; n < count; n++) {
    const scene = sampleScene(rng, options);
    const reading = readScene(degrade(renderScene(scene)), 64);
    tally('background', reading.background === scene.background, scene, reading);
    tally('count', reading.objects.length === scene.objects.length, scene, reading);
    for (const truth of scene.objects) {
      const read = reading.objects
        .map((o) => ({ o, d: Math.hypot(o.x - truth.x, o.y - truth.y) }))
        .sort((a, b) => a.d - b.d)[0];
      tally('position', read !== undefined && read.d <= POSITION_TOLERANCE, scene, reading);
      for (const attribute of ['shape', 'colour', 'size', 'pattern'] as const) {
        tally(attribute, read !== undefined && read.o[attribute] === truth[attribute], scene, reading);
      }
    }
  }
  const accuracy = Object.fromEntries(ATTRIBUTES.map((a) => [a, right[a] / asked[a]])) as Accuracy;
  return { accuracy, misses };
}
