import { randomCaption } from './caption.js';
import { createRng } from './random.js';
import { type Scene, type SceneSamplerOptions, sampleScene } from './scene.js';

export interface TrainingExample {
  scene: Scene;
  caption: string;
}

/** An endless, seeded stream of training scenes, each with a randomly drawn caption variant. */
export function* trainingExamples(
  seed: number,
  options: SceneSamplerOptions = {},
): Generator<TrainingExample, never> {
  const rng = createRng(seed);
  for (;;) {
    const scene = sampleScene(rng, options);
    yield { scene, caption: randomCaption(scene, rng) };
  }
}
