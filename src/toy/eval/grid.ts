/**
 * The evaluation's image grid: one row per prompt, one column per seed, square tiles separated (and
 * framed) by a gap, each row optionally topped by a caption strip. Layout and pixels only (RGB, HWC);
 * writing a PNG and drawing caption text is the caller's business.
 */

export interface GridOptions {
  rows: number;
  columns: number;
  /** Tile side in pixels (default 64). */
  tile?: number;
  /** Pixels between tiles and around the grid (default 2). */
  gap?: number;
  /** Height of the caption strip above each row (default 0: none). */
  caption?: number;
}

export interface GridLayout extends Required<GridOptions> {
  width: number;
  height: number;
}

export interface TileBox {
  x: number;
  y: number;
  width: number;
  height: number;
}

export function gridLayout(options: GridOptions): GridLayout {
  const { rows, columns, tile = 64, gap = 2, caption = 0 } = options;
  for (const [name, value, min] of [
    ['rows', rows, 1],
    ['columns', columns, 1],
    ['tile', tile, 1],
    ['gap', gap, 0],
    ['caption', caption, 0],
  ] as const) {
    if (!Number.isInteger(value) || value < min)
      throw new RangeError(`grid ${name} must be an integer ≥ ${min}`);
  }
  return {
    rows,
    columns,
    tile,
    gap,
    caption,
    width: gap + columns * (tile + gap),
    height: gap + rows * (caption + tile + gap),
  };
}

function rowTop(layout: GridLayout, row: number): number {
  if (!Number.isInteger(row) || row < 0 || row >= layout.rows) throw new RangeError(`no row ${row}`);
  return layout.gap + row * (layout.caption + layout.tile + layout.gap);
}

export function tileBox(layout: GridLayout, row: number, column: number): TileBox {
  if (!Number.isInteger(column) || column < 0 || column >= layout.columns) {
    throw new RangeError(`no column ${column}`);
  }
  return {
    x: layout.gap + column * (layout.tile + layout.gap),
    y: rowTop(layout, row) + layout.caption,
    width: layout.tile,
    height: layout.tile,
  };
}

/** The strip above a row's tiles, as wide as the tiles together; undefined when the layout has none. */
export function captionBox(layout: GridLayout, row: number): TileBox | undefined {
  const y = rowTop(layout, row);
  if (layout.caption === 0) return undefined;
  return { x: layout.gap, y, width: layout.width - 2 * layout.gap, height: layout.caption };
}

/**
 * Draws `tiles[row][column]` (RGB, tile × tile × 3; a missing one leaves the fill) into a new RGB image
 * of the layout's size, filled with `fill` elsewhere.
 */
export function composeGrid(
  layout: GridLayout,
  tiles: readonly (readonly (Uint8Array | undefined)[])[],
  fill: readonly [number, number, number] = [32, 32, 32],
): Uint8Array {
  const { width, height, tile } = layout;
  const out = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) out.set(fill, i * 3);
  if (tiles.length > layout.rows)
    throw new RangeError(`${tiles.length} rows of tiles for ${layout.rows} rows`);
  tiles.forEach((row, r) => {
    if (row.length > layout.columns) {
      throw new RangeError(`row ${r} has ${row.length} tiles for ${layout.columns} columns`);
    }
    row.forEach((pixels, c) => {
      if (pixels === undefined) return;
      if (pixels.length !== tile * tile * 3) {
        throw new RangeError(
          `tile (${r}, ${c}) has ${pixels.length} bytes; a ${tile}² RGB tile has ${tile * tile * 3}`,
        );
      }
      const box = tileBox(layout, r, c);
      for (let y = 0; y < tile; y++) {
        const from = y * tile * 3;
        out.set(pixels.subarray(from, from + tile * 3), ((box.y + y) * width + box.x) * 3);
      }
    });
  });
  return out;
}
