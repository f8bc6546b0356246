import { OBJECT_COLOURS, OBJECT_RGB, type ObjectColour, patternRgb } from './vocabulary.js';

/**
 * Each object colour as the RGB segment from the colour to its pattern shade: every pixel of a clean object,
 * plain, dotted or striped, lies on its colour's segment.
 */
export interface ColourLine {
  name: ObjectColour;
  base: readonly number[];
  step: readonly number[];
  length2: number;
}

export const COLOUR_LINES: readonly ColourLine[] = OBJECT_COLOURS.map((name) => {
  const base = OBJECT_RGB[name];
  const dark = patternRgb(name);
  const step = [dark[0] - base[0], dark[1] - base[1], dark[2] - base[2]];
  return { name, base, step, length2: step[0] ** 2 + step[1] ** 2 + step[2] ** 2 };
});

/** Position along a colour's line (0 = the colour, 1 = its pattern shade; clamped) and squared distance from it. */
export function fitLine(line: ColourLine, r: number, g: number, b: number): { t: number; d2: number } {
  const dr = r - line.base[0];
  const dg = g - line.base[1];
  const db = b - line.base[2];
  const raw = (dr * line.step[0] + dg * line.step[1] + db * line.step[2]) / line.length2;
  const t = Math.min(1, Math.max(0, raw));
  const er = dr - t * line.step[0];
  const eg = dg - t * line.step[1];
  const eb = db - t * line.step[2];
  return { t, d2: er * er + eg * eg + eb * eb };
}
