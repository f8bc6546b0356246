/**
 * GPT-2/CLIP byte-to-unicode table (SD1_SPEC §4.1): every byte gets a printable symbol so BPE can
 * work on strings. The 188 printable bytes keep their own code point; the other 68 bytes, in
 * increasing order, map to U+0100, U+0101, …
 */

function isPrintableByte(b: number): boolean {
  return (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
}

/** Symbol for each byte value 0…255. */
export const BYTE_SYMBOLS: readonly string[] = (() => {
  const out = new Array<string>(256);
  let next = 0x100;
  for (let b = 0; b < 256; b++) out[b] = String.fromCharCode(isPrintableByte(b) ? b : next++);
  return out;
})();

/**
 * The 256 byte symbols in vocabulary ("table") order: printable bytes ascending, then the
 * remapped ones ascending. Index in this list = token id of the bare symbol.
 */
export const BYTE_SYMBOLS_TABLE_ORDER: readonly string[] = (() => {
  const printable: string[] = [];
  const remapped: string[] = [];
  for (let b = 0; b < 256; b++) (isPrintableByte(b) ? printable : remapped).push(BYTE_SYMBOLS[b]);
  return [...printable, ...remapped];
})();
