/** The toy-world scripts' option parsers: values in range pass, anything else names the option and range. */
import { describe, expect, it } from 'vitest';
import { intOption, numberOption, samplingChoice } from '../../../bench/toy-eval/options.js';

describe('toy-world script options', () => {
  it('numberOption keeps a value in range and falls back when absent', () => {
    expect(numberOption('cfg', undefined, 5, { min: 0 })).toBe(5);
    expect(numberOption('cfg', '0', 5, { min: 0 })).toBe(0);
    expect(numberOption('lr', '1e-3', 0, { min: 0, exclusiveMin: true, max: 1e6 })).toBe(1e-3);
    expect(numberOption('strength', '1', 1, { min: 0, exclusiveMin: true, max: 1 })).toBe(1);
  });

  it('numberOption names the option and its range for a value outside it or not a number', () => {
    expect(() => numberOption('cfg', '-1', 5, { min: 0 })).toThrow("--cfg must be a number ≥ 0, got '-1'");
    expect(() => numberOption('prior-weight', 'x', 1, { min: 0 })).toThrow(
      "--prior-weight must be a number ≥ 0, got 'x'",
    );
    expect(() => numberOption('strength', '0', 1, { min: 0, exclusiveMin: true, max: 1 })).toThrow(
      "--strength must be a number in (0, 1], got '0'",
    );
    expect(() => numberOption('top-fraction', '1.5', 0, { min: 0, exclusiveMin: true, max: 1 })).toThrow(
      "--top-fraction must be a number in (0, 1], got '1.5'",
    );
    expect(() => numberOption('x', 'Infinity', 0, { min: 0 })).toThrow(/--x must be a number ≥ 0/);
  });

  it('intOption and samplingChoice check integers, names and the guidance scale', () => {
    expect(intOption('seeds', '12', 100)).toBe(12);
    expect(() => intOption('rounds', '21', 1, 1, 20)).toThrow(
      "--rounds must be an integer in 1…20, got '21'",
    );
    const defaults = { samplerName: 'euler', scheduler: 'normal', cfg: 5 } as const;
    expect(samplingChoice({ cfg: '7.5' }, defaults)).toEqual({ ...defaults, cfg: 7.5 });
    expect(() => samplingChoice({ cfg: '-1' }, defaults)).toThrow("--cfg must be a number ≥ 0, got '-1'");
    expect(() => samplingChoice({ sampler: 'nope' }, defaults)).toThrow(/--sampler must be one of/);
  });
});
