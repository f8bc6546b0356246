/** The toy-world scripts' sampling options (numeric option values: test/shared/option-values.test.ts). */
import { describe, expect, it } from 'vitest';
import { samplingChoice } from '../../../bench/toy-eval/options.js';

describe('toy-world script options', () => {
  it('samplingChoice checks names and the guidance scale', () => {
    const defaults = { samplerName: 'euler', scheduler: 'normal', cfg: 5 } as const;
    expect(samplingChoice({ cfg: '7.5' }, defaults)).toEqual({ ...defaults, cfg: 7.5 });
    expect(() => samplingChoice({ cfg: '-1' }, defaults)).toThrow("--cfg must be a number ≥ 0, got '-1'");
    expect(() => samplingChoice({ sampler: 'nope' }, defaults)).toThrow(/--sampler must be one of/);
  });
});
