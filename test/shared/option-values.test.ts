/** Numeric option values: values in range pass, anything else names the option and its range. */
import { describe, expect, it } from 'vitest';
import { intOption, numberOption, OptionValueError } from '../../src/shared/option-values.js';

describe('option values', () => {
  it('numberOption keeps a value in range and falls back when absent (undefined: not given)', () => {
    expect(numberOption('cfg', undefined, 5, { min: 0 })).toBe(5);
    expect(numberOption('lr', undefined, undefined, { min: 0, exclusiveMin: true })).toBeUndefined();
    expect(numberOption('cfg', '0', 5, { min: 0 })).toBe(0);
    expect(numberOption('lr', '1e-3', 0, { min: 0, exclusiveMin: true, max: 1e6 })).toBe(1e-3);
    expect(numberOption('strength', '1', 1, { min: 0, exclusiveMin: true, max: 1 })).toBe(1);
  });

  it('numberOption names the option and its range for a value outside it or not a number', () => {
    expect(() => numberOption('cfg', '-1', 5, { min: 0 })).toThrow("--cfg must be a number ≥ 0, got '-1'");
    expect(() => numberOption('prior-weight', 'x', 1, { min: 0 })).toThrow(
      "--prior-weight must be a number ≥ 0, got 'x'",
    );
    expect(() => numberOption('lr', '0', 1, { min: 0, exclusiveMin: true })).toThrow(
      "--lr must be a number > 0, got '0'",
    );
    expect(() => numberOption('strength', '0', 1, { min: 0, exclusiveMin: true, max: 1 })).toThrow(
      "--strength must be a number in (0, 1], got '0'",
    );
    expect(() => numberOption('top-fraction', '1.5', 0, { min: 0, exclusiveMin: true, max: 1 })).toThrow(
      "--top-fraction must be a number in (0, 1], got '1.5'",
    );
    expect(() => numberOption('x', 'Infinity', 0, { min: 0 })).toThrow(/--x must be a number ≥ 0/);
    // Number('') is 0: an empty value is not a zero.
    expect(() => numberOption('edge-weight', ' ', 0, { min: 0 })).toThrow(OptionValueError);
  });

  it('intOption checks integers and their range', () => {
    expect(intOption('seeds', '12', 100)).toBe(12);
    expect(intOption('steps', undefined, undefined)).toBeUndefined();
    expect(intOption('seed', '0', 0, 0, 2 ** 32 - 1)).toBe(0);
    expect(() => intOption('rounds', '21', 1, 1, 20)).toThrow(
      "--rounds must be an integer in 1…20, got '21'",
    );
    expect(() => intOption('steps', '2.5', 1)).toThrow("--steps must be an integer ≥ 1, got '2.5'");
    expect(() => intOption('steps', '', 1)).toThrow(OptionValueError);
  });
});
