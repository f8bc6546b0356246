import { describe, expect, it } from 'vitest';
import { captionBox, composeGrid, gridLayout, tileBox } from '../../../src/toy/eval/grid.js';

/** A 2×2 RGB tile of one grey level. */
const tile = (level: number) => new Uint8Array(2 * 2 * 3).fill(level);

describe('toy eval grid', () => {
  it('frames tiles with the gap and puts each row under its caption strip', () => {
    const layout = gridLayout({ rows: 2, columns: 3, tile: 2, gap: 1, caption: 1 });
    expect([layout.width, layout.height]).toEqual([1 + 3 * 3, 1 + 2 * 4]);
    expect(captionBox(layout, 0)).toEqual({ x: 1, y: 1, width: 8, height: 1 });
    expect(tileBox(layout, 0, 0)).toEqual({ x: 1, y: 2, width: 2, height: 2 });
    expect(captionBox(layout, 1)).toEqual({ x: 1, y: 5, width: 8, height: 1 });
    expect(tileBox(layout, 1, 2)).toEqual({ x: 7, y: 6, width: 2, height: 2 });
    expect(() => tileBox(layout, 2, 0)).toThrow(RangeError);
    expect(() => tileBox(layout, 0, 3)).toThrow(RangeError);
    expect(captionBox(gridLayout({ rows: 1, columns: 1 }), 0)).toBeUndefined();
    expect(() => gridLayout({ rows: 0, columns: 1 })).toThrow(RangeError);
  });

  it('draws every tile at its box, the fill everywhere else, and leaves missing tiles filled', () => {
    const layout = gridLayout({ rows: 2, columns: 2, tile: 2, gap: 1 });
    const pixels = composeGrid(layout, [[tile(10), tile(20)], [tile(30)]], [1, 2, 3]);
    expect(pixels).toHaveLength(layout.width * layout.height * 3);
    const rows: string[] = [];
    for (let y = 0; y < layout.height; y++) {
      let row = '';
      for (let x = 0; x < layout.width; x++) {
        const [r, g, b] = pixels.subarray((y * layout.width + x) * 3, (y * layout.width + x) * 3 + 3);
        row += r === 1 && g === 2 && b === 3 ? '.' : String(r / 10);
      }
      rows.push(row);
    }
    expect(rows).toEqual(['.......', '.11.22.', '.11.22.', '.......', '.33....', '.33....', '.......']);
  });

  it('refuses tiles of the wrong size or too many of them', () => {
    const layout = gridLayout({ rows: 1, columns: 1, tile: 2, gap: 0 });
    expect(() => composeGrid(layout, [[new Uint8Array(5)]])).toThrow(/12/);
    expect(() => composeGrid(layout, [[tile(1), tile(2)]])).toThrow(RangeError);
    expect(() => composeGrid(layout, [[tile(1)], [tile(2)]])).toThrow(RangeError);
  });
});
