/** Binary-mask helpers for the reader: connected components, boxes, interiors. Pixels are indices y·size + x. */

/** 8-connected components of the pixels where `member(i)` holds, as lists of pixel indices. */
export function components(size: number, member: (i: number) => boolean): number[][] {
  const seen = new Uint8Array(size * size);
  const found: number[][] = [];
  for (let start = 0; start < size * size; start++) {
    if (seen[start] || !member(start)) continue;
    const pixels: number[] = [];
    const stack = [start];
    seen[start] = 1;
    while (stack.length > 0) {
      const i = stack.pop()!;
      pixels.push(i);
      const x = i % size;
      const y = (i - x) / size;
      for (let ny = Math.max(0, y - 1); ny <= Math.min(size - 1, y + 1); ny++) {
        for (let nx = Math.max(0, x - 1); nx <= Math.min(size - 1, x + 1); nx++) {
          const n = ny * size + nx;
          if (!seen[n] && member(n)) {
            seen[n] = 1;
            stack.push(n);
          }
        }
      }
    }
    found.push(pixels);
  }
  return found;
}

export interface Box {
  x0: number;
  x1: number;
  y0: number;
  y1: number;
}

export function boxOf(pixels: readonly number[], size: number): Box {
  const box = { x0: size, x1: -1, y0: size, y1: -1 };
  for (const i of pixels) {
    const x = i % size;
    const y = (i - x) / size;
    box.x0 = Math.min(box.x0, x);
    box.x1 = Math.max(box.x1, x);
    box.y0 = Math.min(box.y0, y);
    box.y1 = Math.max(box.y1, y);
  }
  return box;
}

/**
 * Pixels of the component whose 4 neighbours (with `diagonals`, all 8) are in it too: clear of anti-aliased
 * edges.
 */
export function interiorOf(
  pixels: readonly number[],
  inComponent: Uint8Array,
  size: number,
  diagonals = false,
) {
  return pixels.filter((i) => {
    const x = i % size;
    if (x === 0 || x === size - 1 || i < size || i >= size * (size - 1)) return false;
    const sides = inComponent[i - 1] & inComponent[i + 1] & inComponent[i - size] & inComponent[i + size];
    if (!diagonals || sides === 0) return sides === 1;
    return (
      (inComponent[i - size - 1] &
        inComponent[i - size + 1] &
        inComponent[i + size - 1] &
        inComponent[i + size + 1]) ===
      1
    );
  });
}
