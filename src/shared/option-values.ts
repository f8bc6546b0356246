/**
 * Numeric command-line option values, checked: the CLI commands (train-toy-model, make-tiny-model) and
 * the toy-world scripts parse `--name VALUE` with these, so every out-of-range value is refused with
 * one kind of message naming the option and its range. `fallback` is returned when the option is
 * absent (undefined: "not given", for options that leave a default elsewhere untouched).
 */

/** Thrown for an option value outside its range or not a number. */
export class OptionValueError extends Error {}

/** `--name` as an integer in [min, max], or `fallback` when absent. */
export function intOption<F extends number | undefined>(
  name: string,
  value: string | undefined,
  fallback: F,
  min = 1,
  max = Number.MAX_SAFE_INTEGER,
): number | F {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === '' || !Number.isSafeInteger(n) || n < min || n > max)
    throw new OptionValueError(
      max === Number.MAX_SAFE_INTEGER
        ? `--${name} must be an integer ≥ ${min}, got '${value}'`
        : `--${name} must be an integer in ${min}…${max}, got '${value}'`,
    );
  return n;
}

/**
 * `--name` as a finite number ≥ `min` (> `min` with `exclusiveMin`) and ≤ `max` when given, or
 * `fallback` when absent.
 */
export function numberOption<F extends number | undefined>(
  name: string,
  value: string | undefined,
  fallback: F,
  range: { min: number; exclusiveMin?: boolean; max?: number },
): number | F {
  if (value === undefined) return fallback;
  const x = Number(value);
  const aboveMin = range.exclusiveMin ? x > range.min : x >= range.min;
  if (
    value.trim() === '' ||
    !(Number.isFinite(x) && aboveMin && (range.max === undefined || x <= range.max))
  ) {
    const bounds =
      range.max === undefined
        ? `${range.exclusiveMin ? '>' : '≥'} ${range.min}`
        : `in ${range.exclusiveMin ? '(' : '['}${range.min}, ${range.max}]`;
    throw new OptionValueError(`--${name} must be a number ${bounds}, got '${value}'`);
  }
  return x;
}
