import { patternTest, shapeTest } from './geometry.js';
import type { Scene, ToyObject } from './scene.js';
import { BACKGROUND_RGB, OBJECT_RGB, patternRgb, type Rgb } from './vocabulary.js';

/** Samples per pixel along each axis: edges are anti-aliased by averaging SUPERSAMPLE² point samples. */
const SUPERSAMPLE = 4;
const FRAME_PX = 64;

interface Placed {
  object: ToyObject;
  inside: (u: number, v: number) => boolean;
  dark: (dx: number, dy: number) => boolean;
  base: Rgb;
  shade: Rgb;
  /** Pixel box the object can touch, inclusive, clipped to the image. */
  px0: number;
  px1: number;
  py0: number;
  py1: number;
}

function placeOnGrid(object: ToyObject, size: number): Placed {
  const half = object.extent / 2;
  return {
    object,
    inside: shapeTest(object.shape),
    dark: patternTest(object.pattern),
    base: OBJECT_RGB[object.colour],
    shade: patternRgb(object.colour),
    px0: Math.max(0, Math.floor((object.x - half) * size)),
    px1: Math.min(size - 1, Math.ceil((object.x + half) * size)),
    py0: Math.max(0, Math.floor((object.y - half) * size)),
    py1: Math.min(size - 1, Math.ceil((object.y + half) * size)),
  };
}

function touches(placed: Placed, px: number, py: number): boolean {
  return px >= placed.px0 && px <= placed.px1 && py >= placed.py0 && py <= placed.py1;
}

/** Colour of the scene at the frame point (fx, fy). */
function colourAt(placed: readonly Placed[], background: Rgb, fx: number, fy: number): Rgb {
  for (const { object, inside, dark, base, shade } of placed) {
    const half = object.extent / 2;
    if (!inside((fx - object.x) / half, (fy - object.y) / half)) continue;
    return dark((fx - object.x) * FRAME_PX, (fy - object.y) * FRAME_PX) ? shade : base;
  }
  return background;
}

/** Renders a scene as size×size RGB, row-major, 3 bytes a pixel (HWC). Deterministic. */
export function renderScene(scene: Scene, size = 64): Uint8Array {
  if (!Number.isInteger(size) || size < 1)
    throw new RangeError(`size must be a positive integer, got ${size}`);
  const out = new Uint8Array(size * size * 3);
  const background = BACKGROUND_RGB[scene.background];
  for (let o = 0; o < out.length; o += 3) {
    out[o] = background[0];
    out[o + 1] = background[1];
    out[o + 2] = background[2];
  }
  const all = scene.objects.map((object) => placeOnGrid(object, size));
  const done = new Uint8Array(size * size);
  const samples = SUPERSAMPLE * SUPERSAMPLE;
  for (const placed of all) {
    for (let py = placed.py0; py <= placed.py1; py++) {
      for (let px = placed.px0; px <= placed.px1; px++) {
        if (done[py * size + px]) continue;
        done[py * size + px] = 1;
        // At small sizes two objects' boxes can share a pixel; it then shows both.
        const here = all.length > 1 && all.some((p) => p !== placed && touches(p, px, py)) ? all : [placed];
        let r = 0;
        let g = 0;
        let b = 0;
        for (let sy = 0; sy < SUPERSAMPLE; sy++) {
          const fy = (py + (sy + 0.5) / SUPERSAMPLE) / size;
          for (let sx = 0; sx < SUPERSAMPLE; sx++) {
            const colour = colourAt(here, background, (px + (sx + 0.5) / SUPERSAMPLE) / size, fy);
            r += colour[0];
            g += colour[1];
            b += colour[2];
          }
        }
        const o = (py * size + px) * 3;
        out[o] = Math.round(r / samples);
        out[o + 1] = Math.round(g / samples);
        out[o + 2] = Math.round(b / samples);
      }
    }
  }
  return out;
}
