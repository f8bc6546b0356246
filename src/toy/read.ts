import { COLOUR_LINES, type ColourLine, fitLine } from './colour-lines.js';
import { shapeBounds, shapeTest } from './geometry.js';
import { type Box, boxOf, components, interiorOf } from './mask.js';
import type { ToyObject } from './scene.js';
import {
  BACKGROUND_COLOURS,
  BACKGROUND_RGB,
  type BackgroundColour,
  type Pattern,
  SHAPES,
  type ShapeName,
} from './vocabulary.js';

/**
 * Reads a toy-world image back into attributes, deterministically, without learning anything:
 *
 * - background: the palette background nearest to most border pixels; its measured (median) colour is what
 *   objects are segmented against, so a tinted generated background still works;
 * - object pixels: those nearer to some object colour's shading line (from the colour to its pattern shade)
 *   than to the measured background; 8-connected components, specks dropped;
 * - colour: the shading line with the least (outlier-capped) squared distance over the object's interior, so
 *   dots and stripes count for their own colour;
 * - size: the box's longer side against the midpoint between the small and large ranges;
 * - shape: the world's own rasteriser at the detected box, best intersection-over-union of the masks;
 * - pattern: interior pixels (clear of anti-aliased edges) far enough down the shading line are "dark"; too few
 *   → plain; otherwise the shade changes between diagonal neighbours are compared along and across the stripe
 *   direction: stripes change only across, dots both ways alike.
 */

/** An object as read: the scene's own description (geometry in fractions of the frame) plus the evidence. */
export interface ReadObject extends ToyObject {
  /** Pixels in the object's mask. */
  area: number;
  /** What the calls rest on, for judging borderline readings. */
  evidence: ReadEvidence;
}

export interface ReadEvidence extends PatternFeatures {
  /** Intersection-over-union of the mask with the best-matching shape (1 = exact). */
  shapeIoU: number;
}

export interface SceneReading {
  background: BackgroundColour;
  /** Largest first. */
  objects: ReadObject[];
}

const FRAME_PX = 64;
/** Components smaller than this (pixels of a 64×64 frame) are noise, not objects. */
const SPECK_AREA_PX = 20;
/** Between the small (18–22 px) and large (30–36 px) extents. */
const LARGE_FROM_PX = 25;
/** Cap on one pixel's squared colour distance, so a few stray pixels cannot outvote the rest. */
const COLOUR_DISTANCE_CAP2 = 90 * 90;
/** How far down the shading line (0 = colour, 1 = pattern shade) a pixel must be to count as pattern-dark. */
const DARK_FROM = 0.5;
/** Fraction of interior pixels that must be dark for the object to be patterned. */
const PATTERNED_FROM = 0.04;
/** Stripe score (see PatternFeatures) from which a patterned object is striped rather than dotted. */
const STRIPED_FROM = 0.4;

function isDark(rgb: readonly number[]): boolean {
  return 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2] < 60;
}

function median(values: number[]): number {
  const sorted = values.slice().sort((a, b) => a - b);
  return sorted[sorted.length >> 1];
}

function readBackground(rgb: Uint8Array, size: number): { name: BackgroundColour; colour: number[] } {
  const border: number[] = [];
  for (let i = 0; i < size; i++) {
    border.push(i, (size - 1) * size + i);
    if (i > 0 && i < size - 1) border.push(i * size, i * size + size - 1);
  }
  const voters = new Map<BackgroundColour, number[]>();
  for (const pixel of border) {
    let best: BackgroundColour = BACKGROUND_COLOURS[0];
    let bestD2 = Number.POSITIVE_INFINITY;
    for (const name of BACKGROUND_COLOURS) {
      const c = BACKGROUND_RGB[name];
      const d2 =
        (rgb[pixel * 3] - c[0]) ** 2 + (rgb[pixel * 3 + 1] - c[1]) ** 2 + (rgb[pixel * 3 + 2] - c[2]) ** 2;
      if (d2 < bestD2) {
        best = name;
        bestD2 = d2;
      }
    }
    const list = voters.get(best) ?? [];
    list.push(pixel);
    voters.set(best, list);
  }
  let name: BackgroundColour = BACKGROUND_COLOURS[0];
  let pixels: number[] = [];
  for (const [candidate, list] of voters) if (list.length > pixels.length) [name, pixels] = [candidate, list];
  const colour = [0, 1, 2].map((ch) => median(pixels.map((p) => rgb[p * 3 + ch])));
  return { name, colour };
}

/** 1 where a pixel is nearer to some object colour's shading line than to the background. */
function foregroundMask(
  rgb: Uint8Array,
  size: number,
  background: BackgroundColour,
  bg: number[],
): Uint8Array {
  const lines = COLOUR_LINES.filter((line) => line.name !== background);
  // A pixel closer to the background than half its distance to every line is background (triangle
  // inequality), which settles most pixels with one distance.
  const surelyBackground2 = Math.min(...lines.map((line) => fitLine(line, bg[0], bg[1], bg[2]).d2)) / 4;
  const mask = new Uint8Array(size * size);
  for (let i = 0; i < size * size; i++) {
    const r = rgb[i * 3];
    const g = rgb[i * 3 + 1];
    const b = rgb[i * 3 + 2];
    const toBackground = (r - bg[0]) ** 2 + (g - bg[1]) ** 2 + (b - bg[2]) ** 2;
    if (toBackground < surelyBackground2) continue;
    for (const line of lines) {
      if (fitLine(line, r, g, b).d2 < toBackground) {
        mask[i] = 1;
        break;
      }
    }
  }
  return mask;
}

function readColour(rgb: Uint8Array, pixels: readonly number[], background: BackgroundColour): ColourLine {
  let best = COLOUR_LINES[0];
  let bestCost = Number.POSITIVE_INFINITY;
  for (const line of COLOUR_LINES) {
    if (line.name === background) continue;
    let cost = 0;
    for (const i of pixels) {
      cost += Math.min(COLOUR_DISTANCE_CAP2, fitLine(line, rgb[i * 3], rgb[i * 3 + 1], rgb[i * 3 + 2]).d2);
    }
    if (cost < bestCost) {
      best = line;
      bestCost = cost;
    }
  }
  return best;
}

/**
 * Templates are also tried a little larger than the detected box: blur eats a star's points, shrinking its
 * box, while the body stays where a larger star's would be.
 */
const TEMPLATE_GROWTH = [1, 1.1, 1.2];

function readShape(inComponent: Uint8Array, box: Box, size: number): { shape: ShapeName; match: number } {
  const width = box.x1 - box.x0 + 1;
  const height = box.y1 - box.y0 + 1;
  const margin = Math.ceil(0.1 * Math.max(width, height)) + 1;
  const [xs0, xs1] = [Math.max(0, box.x0 - margin), Math.min(size - 1, box.x1 + margin)];
  const [ys0, ys1] = [Math.max(0, box.y0 - margin), Math.min(size - 1, box.y1 + margin)];
  let best: ShapeName = SHAPES[0];
  let bestIoU = -1;
  for (const shape of SHAPES) {
    const { u0, u1, v0, v1 } = shapeBounds(shape);
    const inside = shapeTest(shape);
    for (const growth of TEMPLATE_GROWTH) {
      // Stretched to the detected box on both axes: at small sizes anti-aliasing alone can make a square's
      // mask a pixel wider than high.
      const halfU = (growth * width) / (u1 - u0);
      const halfV = (growth * height) / (v1 - v0);
      const cx = (box.x0 + box.x1 + 1) / 2 - (halfU * (u0 + u1)) / 2;
      const cy = (box.y0 + box.y1 + 1) / 2 - (halfV * (v0 + v1)) / 2;
      let both = 0;
      let either = 0;
      for (let y = ys0; y <= ys1; y++) {
        for (let x = xs0; x <= xs1; x++) {
          const inTemplate = inside((x + 0.5 - cx) / halfU, (y + 0.5 - cy) / halfV);
          const inMask = inComponent[y * size + x] === 1;
          if (inTemplate && inMask) both++;
          if (inTemplate || inMask) either++;
        }
      }
      const iou = both / Math.max(1, either);
      if (iou > bestIoU) {
        best = shape;
        bestIoU = iou;
      }
    }
  }
  return { shape: best, match: bestIoU };
}

export interface PatternFeatures {
  /** Fraction of interior pixels that are pattern-dark. */
  darkFraction: number;
  /**
   * (across − along) / (across + along) of the mean squared shade change between diagonal neighbours, across
   * and along the stripe direction: near 1 for stripes, near 0 for dots (no preferred direction).
   */
  stripeScore: number;
}

function patternFeatures(
  rgb: Uint8Array,
  interior: readonly number[],
  line: ColourLine,
  size: number,
): PatternFeatures {
  const shade = new Float64Array(size * size).fill(Number.NaN);
  let darkCount = 0;
  for (const i of interior) {
    const t = fitLine(line, rgb[i * 3], rgb[i * 3 + 1], rgb[i * 3 + 2]).t;
    shade[i] = t;
    if (t > DARK_FROM) darkCount++;
  }
  // Stripes run along (1, −1); across them is (1, 1).
  let across = 0;
  let acrossPairs = 0;
  let along = 0;
  let alongPairs = 0;
  for (const i of interior) {
    const x = i % size;
    if (x === size - 1) continue;
    const down = i + size + 1;
    if (down < size * size && !Number.isNaN(shade[down])) {
      across += (shade[i] - shade[down]) ** 2;
      acrossPairs++;
    }
    const up = i - size + 1;
    if (up >= 0 && !Number.isNaN(shade[up])) {
      along += (shade[i] - shade[up]) ** 2;
      alongPairs++;
    }
  }
  const acrossMean = across / Math.max(1, acrossPairs);
  const alongMean = along / Math.max(1, alongPairs);
  return {
    darkFraction: darkCount / Math.max(1, interior.length),
    stripeScore: (acrossMean - alongMean) / Math.max(1e-9, acrossMean + alongMean),
  };
}

function classifyPattern(features: PatternFeatures): Pattern {
  if (features.darkFraction < PATTERNED_FROM) return 'plain';
  return features.stripeScore >= STRIPED_FROM ? 'striped' : 'dotted';
}

/** Reads a size×size RGB (HWC) toy-world image. */
export function readScene(rgb: Uint8Array, size = 64): SceneReading {
  if (!Number.isInteger(size) || size < 3) throw new RangeError(`size must be an integer ≥ 3, got ${size}`);
  if (rgb.length !== size * size * 3) {
    throw new RangeError(`expected ${size}×${size}×3 = ${size * size * 3} bytes, got ${rgb.length}`);
  }
  const scale = size / FRAME_PX;
  const minArea = SPECK_AREA_PX * scale * scale;
  const background = readBackground(rgb, size);
  const bg = background.colour;
  const mask = foregroundMask(rgb, size, background.name, bg);
  const objects: ReadObject[] = [];
  const inComponent = new Uint8Array(size * size);
  for (const rough of components(size, (i) => mask[i] === 1)) {
    if (rough.length < minArea) continue;
    inComponent.fill(0);
    for (const i of rough) inComponent[i] = 1;
    const roughInterior = interiorOf(rough, inComponent, size);
    const line = readColour(rgb, roughInterior.length >= 8 ? roughInterior : rough, background.name);
    // Near-black pixels at the edges of objects on dark backgrounds can lie nearer to another colour's pattern
    // shade than to the background; once the colour is known, only its own line decides.
    const pixels = rough.filter((i) => {
      const r = rgb[i * 3];
      const g = rgb[i * 3 + 1];
      const b = rgb[i * 3 + 2];
      return fitLine(line, r, g, b).d2 < (r - bg[0]) ** 2 + (g - bg[1]) ** 2 + (b - bg[2]) ** 2;
    });
    if (pixels.length < minArea) continue;
    inComponent.fill(0);
    for (const i of pixels) inComponent[i] = 1;
    const interior = interiorOf(pixels, inComponent, size);
    // On a dark background a blurred edge darkens the object's colour just as its pattern shade does, so
    // the pattern is read a little further in where the object has room for it.
    const deep = isDark(bg) ? interiorOf(pixels, inComponent, size, true) : interior;
    const box = boxOf(pixels, size);
    const { shape, match } = readShape(inComponent, box, size);
    const features = patternFeatures(rgb, deep.length >= 8 ? deep : interior, line, size);
    const extentPx = Math.max(box.x1 - box.x0 + 1, box.y1 - box.y0 + 1);
    objects.push({
      shape,
      colour: line.name,
      size: extentPx / scale >= LARGE_FROM_PX ? 'large' : 'small',
      pattern: classifyPattern(features),
      x: (box.x0 + box.x1 + 1) / 2 / size,
      y: (box.y0 + box.y1 + 1) / 2 / size,
      extent: extentPx / size,
      area: pixels.length,
      evidence: { shapeIoU: match, ...features },
    });
  }
  objects.sort((a, b) => b.area - a.area);
  return { background: background.name, objects };
}
