import type { Pattern, ShapeName } from './vocabulary.js';

/**
 * Shape and pattern geometry, shared by the renderer and the reader (which matches detected objects against it).
 * Shapes live in object coordinates: u right, v down, the object's box is [-1, 1]² and every shape touches
 * both sides of it along its longer axis (its extent).
 */

type Point = readonly [number, number];

/** Crossing-number point-in-polygon test. */
function insidePolygon(poly: readonly Point[], u: number, v: number): boolean {
  let inside = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    // Indexing, not destructuring: this runs per sample and destructuring allocates an iterator.
    const ui = poly[i][0];
    const vi = poly[i][1];
    const uj = poly[j][0];
    const vj = poly[j][1];
    if (vi > v !== vj > v && u < ((uj - ui) * (v - vi)) / (vj - vi) + ui) inside = !inside;
  }
  return inside;
}

/** Scales and shifts a polygon so that its bounding box is centred and its longer side spans [-1, 1]. */
function fitToBox(poly: readonly Point[]): Point[] {
  const us = poly.map((p) => p[0]);
  const vs = poly.map((p) => p[1]);
  const [u0, u1, v0, v1] = [Math.min(...us), Math.max(...us), Math.min(...vs), Math.max(...vs)];
  const scale = 2 / Math.max(u1 - u0, v1 - v0);
  return poly.map(([u, v]) => [(u - (u0 + u1) / 2) * scale, (v - (v0 + v1) / 2) * scale]);
}

const TRIANGLE: Point[] = [
  [0, -1],
  [1, 1],
  [-1, 1],
];

/** Five points up; inner radius 0.5 of the outer (fatter than a regular star) so that patterns fit in it. */
const STAR: Point[] = fitToBox(
  Array.from({ length: 10 }, (_, k): Point => {
    const radius = k % 2 === 0 ? 1 : 0.5;
    const angle = -Math.PI / 2 + (k * Math.PI) / 5;
    return [radius * Math.cos(angle), radius * Math.sin(angle)];
  }),
);

const CROSS_HALF_WIDTH = 0.36;
const RING_INNER_RADIUS = 0.5;

/**
 * The inside test of a shape, as a function of object coordinates. Callers hold on to it per object: it runs
 * for every sample, and picking the shape once keeps the per-sample work to the geometry itself.
 */
export function shapeTest(shape: ShapeName): (u: number, v: number) => boolean {
  const inBox = (u: number, v: number) => u >= -1 && u <= 1 && v >= -1 && v <= 1;
  switch (shape) {
    case 'circle':
      return (u, v) => u * u + v * v <= 1;
    case 'square':
      return inBox;
    case 'triangle':
      return (u, v) => inBox(u, v) && insidePolygon(TRIANGLE, u, v);
    case 'cross':
      return (u, v) => inBox(u, v) && (Math.abs(u) <= CROSS_HALF_WIDTH || Math.abs(v) <= CROSS_HALF_WIDTH);
    case 'star':
      return (u, v) => inBox(u, v) && insidePolygon(STAR, u, v);
    case 'ring': {
      const inner2 = RING_INNER_RADIUS * RING_INNER_RADIUS;
      return (u, v) => {
        const r2 = u * u + v * v;
        return r2 <= 1 && r2 >= inner2;
      };
    }
  }
}

/** The part of [-1, 1]² each shape covers (all but the star fill it). */
export function shapeBounds(shape: ShapeName): { u0: number; u1: number; v0: number; v1: number } {
  if (shape !== 'star') return { u0: -1, u1: 1, v0: -1, v1: 1 };
  const vs = STAR.map((p) => p[1]);
  return { u0: -1, u1: 1, v0: Math.min(...vs), v1: Math.max(...vs) };
}

/**
 * Pattern period in pixels of a 64×64 frame (patterns scale with the frame, like everything else). Dots sit on
 * a square grid anchored at the object's centre; stripes run diagonally (down-left to up-right), half of each
 * period dark, one of them through the centre.
 */
export const PATTERN_PERIOD_PX = 8;
const DOT_RADIUS_PX = 0.32 * PATTERN_PERIOD_PX;

/** The pattern's dark test, as a function of the offset (dx, dy) from the object's centre in pixels of a 64×64 frame. */
export function patternTest(pattern: Pattern): (dx: number, dy: number) => boolean {
  switch (pattern) {
    case 'plain':
      return () => false;
    case 'dotted':
      return (dx, dy) => {
        const ox = dx - PATTERN_PERIOD_PX * Math.round(dx / PATTERN_PERIOD_PX);
        const oy = dy - PATTERN_PERIOD_PX * Math.round(dy / PATTERN_PERIOD_PX);
        return ox * ox + oy * oy <= DOT_RADIUS_PX * DOT_RADIUS_PX;
      };
    case 'striped':
      return (dx, dy) => {
        const s = (dx + dy) / Math.SQRT2 / PATTERN_PERIOD_PX;
        return Math.abs(s - Math.round(s)) <= 0.25;
      };
  }
}
