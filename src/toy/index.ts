/** Public API of the procedural toy world (scenes, rendering, captions) and of its attribute reader. */
export {
  CAPTION_VARIANT_NAMES,
  CAPTION_VARIANTS,
  type CaptionVariant,
  captionFor,
  FULL_CAPTION_CHANCE,
  randomCaption,
  randomCaptionVariant,
} from './caption.js';
export { type TrainingExample, trainingExamples } from './examples.js';
export { PATTERN_PERIOD_PX } from './geometry.js';
export { createRng, type Rng } from './random.js';
export {
  type PatternFeatures,
  type ReadEvidence,
  type ReadObject,
  readScene,
  type SceneReading,
} from './read.js';
export { renderScene } from './render.js';
export {
  HELD_OUT,
  isHeldOut,
  type Scene,
  type SceneSamplerOptions,
  sampleScene,
  type ToyObject,
  TRAINING_STAGES,
} from './scene.js';
export {
  BACKGROUND_COLOURS,
  BACKGROUND_RGB,
  type BackgroundColour,
  OBJECT_COLOURS,
  OBJECT_RGB,
  type ObjectColour,
  PATTERN_SHADE,
  PATTERNS,
  type Pattern,
  patternRgb,
  type Rgb,
  SHAPES,
  type ShapeName,
  SIZE_EXTENT_PX,
  SIZES,
  type SizeClass,
} from './vocabulary.js';
