/** The toy world's vocabularies: the one definition of every attribute name and of the colours they render as. */

export type Rgb = readonly [number, number, number];

export const SHAPES = ['circle', 'square', 'triangle', 'cross', 'star', 'ring'] as const;
export type ShapeName = (typeof SHAPES)[number];

/** Object colours: plain saturated renderings of their names. */
export const OBJECT_RGB = {
  red: [230, 30, 30],
  orange: [255, 140, 0],
  yellow: [250, 220, 20],
  green: [30, 170, 50],
  blue: [30, 70, 230],
  purple: [140, 40, 190],
} as const satisfies Record<string, Rgb>;
export type ObjectColour = keyof typeof OBJECT_RGB;
export const OBJECT_COLOURS = Object.keys(OBJECT_RGB) as ObjectColour[];

/** Backgrounds that share a name with an object colour use the very same RGB. */
export const BACKGROUND_RGB = {
  white: [255, 255, 255],
  red: OBJECT_RGB.red,
  green: OBJECT_RGB.green,
  blue: OBJECT_RGB.blue,
  black: [0, 0, 0],
  yellow: OBJECT_RGB.yellow,
} as const satisfies Record<string, Rgb>;
export type BackgroundColour = keyof typeof BACKGROUND_RGB;
export const BACKGROUND_COLOURS = Object.keys(BACKGROUND_RGB) as BackgroundColour[];

export const SIZES = ['small', 'large'] as const;
export type SizeClass = (typeof SIZES)[number];

/** Extent (the larger side of the object's box) in pixels of a 64×64 frame, per size class. */
export const SIZE_EXTENT_PX: Record<SizeClass, readonly [number, number]> = {
  small: [18, 22],
  large: [30, 36],
};

export const PATTERNS = ['plain', 'dotted', 'striped'] as const;
export type Pattern = (typeof PATTERNS)[number];

/** Dots and stripes are drawn in the object's colour scaled by this factor. */
export const PATTERN_SHADE = 0.55;

export function patternRgb(colour: ObjectColour): Rgb {
  const [r, g, b] = OBJECT_RGB[colour];
  return [Math.round(r * PATTERN_SHADE), Math.round(g * PATTERN_SHADE), Math.round(b * PATTERN_SHADE)];
}
