/** Extract Concept's prompts, setting checks and cache key (src/cones/extract/protocol.ts). */
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_EXTRACT_SETTINGS,
  DEFAULT_PROMPT_TEMPLATE,
  type ExtractSettings,
  extractionHash,
  instancePrompt,
  PRIOR_SAMPLING,
  priorPrompt,
  settingsProblem,
} from '../../../src/cones/extract/protocol.js';

const payload = (over: Partial<ExtractSettings>) => ({
  checkpoint: { fingerprint: 'f' } as never,
  images: { data: new Float32Array(12), shape: [1, 2, 2, 3] },
  identifier: 'sks',
  classNoun: 'dog',
  keepTrainingData: false,
  settings: { ...DEFAULT_EXTRACT_SETTINGS, ...over },
});

describe('Extract Concept prompts', () => {
  it("default to the paper's instance and prior prompts", () => {
    expect(instancePrompt('sks', 'dog')).toBe('photo of a sks dog');
    expect(priorPrompt('dog')).toBe('photo of a dog');
    expect(instancePrompt('sks', 'dog', DEFAULT_PROMPT_TEMPLATE)).toBe('photo of a sks dog');
  });

  it('fill a template and leave the identifier (with its space) out of the prior prompt', () => {
    const t = 'a photo of a {identifier} {class} on a white background';
    expect(instancePrompt('zwx', 'ring', t)).toBe('a photo of a zwx ring on a white background');
    expect(priorPrompt('ring', t)).toBe('a photo of a ring on a white background');
    expect(priorPrompt('dog', '{class}, {identifier}')).toBe('dog,');
    expect(priorPrompt('dog', '{identifier} {class}')).toBe('dog');
  });

  it('refuse a template without exactly one {identifier} and one {class}, or an over-long one', () => {
    for (const promptTemplate of [
      'photo of a {class}',
      'photo of {identifier}',
      '{identifier} {class} {class}',
      '',
    ])
      expect(settingsProblem({ ...DEFAULT_EXTRACT_SETTINGS, promptTemplate })).toMatch(
        /prompt_template must contain/,
      );
    const long = `{identifier} {class}${' x'.repeat(200)}`;
    expect(settingsProblem({ ...DEFAULT_EXTRACT_SETTINGS, promptTemplate: long })).toMatch(/at most 300/);
    expect(
      settingsProblem({ ...DEFAULT_EXTRACT_SETTINGS, promptTemplate: 'a photo of a {identifier} {class}' }),
    ).toBeNull();
  });

  it('refuse a prior guidance outside 1–30', () => {
    for (const priorCfg of [0, 0.5, 31, Number.NaN, Number.POSITIVE_INFINITY])
      expect(settingsProblem({ ...DEFAULT_EXTRACT_SETTINGS, priorCfg })).toMatch(/prior_cfg must be/);
    expect(settingsProblem({ ...DEFAULT_EXTRACT_SETTINGS, priorCfg: 1 })).toBeNull();
  });

  it('key a template or prior guidance into the cache; at their defaults the key is unchanged', () => {
    const plain = extractionHash(payload({}));
    expect(extractionHash(payload({ promptTemplate: DEFAULT_PROMPT_TEMPLATE }))).toBe(plain);
    expect(extractionHash(payload({ priorCfg: PRIOR_SAMPLING.cfg }))).toBe(plain);
    const keys = [
      extractionHash(payload({ promptTemplate: 'a photo of a {identifier} {class}' })),
      extractionHash(payload({ priorCfg: 1 })),
      extractionHash(payload({ priorCfg: 3 })),
      extractionHash(payload({ rounds: 3 })),
    ];
    expect(new Set([plain, ...keys]).size).toBe(5);
  });
});
