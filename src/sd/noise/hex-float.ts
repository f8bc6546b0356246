/** Parses a C99 hexadecimal float literal ("-0x1.8p-3"), exactly. */
export function hexFloat(literal: string): number {
  const m = /^([+-]?)0x([0-9a-f]+)(?:\.([0-9a-f]*))?p([+-]?\d+)$/i.exec(literal);
  if (!m) throw new Error(`not a hex float: ${literal}`);
  const frac = m[3] ?? '';
  // ≤ 53 significant bits in every literal used here, so BigInt → Number is exact.
  const mantissa = Number(BigInt(`0x${m[2]}${frac}`));
  const value = mantissa * 2 ** (Number(m[4]) - 4 * frac.length);
  return m[1] === '-' ? -value : value;
}
