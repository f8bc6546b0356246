/**
 * Repeated extraction after shutting (ExtractSettings.rounds): each round runs A2 with the earlier
 * rounds' neurons held shut and adds its share among the rest; deterministic and resumable mid-round.
 */
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_EXTRACT_SETTINGS, settingsProblem } from '../../../src/cones/extract/protocol.js';
import { runExtraction } from '../../../src/cones/extract/worker.js';
import { InterruptedError } from '../../../src/shared/interrupted.js';
import { extractPayload, taskContext, tinyModelForFile, tinySettings } from '../extract-fixtures.js';

const m = tinyModelForFile(7);

const STEPS = 4;
const settings = (over = {}) =>
  tinySettings({ steps: STEPS, learningRate: 5, priorCount: 0, topFraction: 0.02, ...over });
const indicesOf = (r: Awaited<ReturnType<typeof runExtraction>>) =>
  r.concept.layers.map((l) => Array.from(l.indices));
const fresh = () => mkdtempSync(join(m.dir, 'rounds-'));

describe('Extract Concept in rounds', () => {
  it('adds each round’s share among the neurons not yet shut; round 1 is the one-round extraction', async () => {
    const two = await runExtraction(
      { ...extractPayload(m, fresh()), settings: settings({ rounds: 2 }) },
      taskContext(),
    );
    const firstRound = await runExtraction(
      { ...extractPayload(m, fresh()), settings: settings({ topFraction: 0.01 }) },
      taskContext(),
    );
    expect(two.losses).toHaveLength(2 * STEPS);
    // Round 1 draws the same batches as a one-round run: same losses, and its picks are kept.
    expect(two.losses.slice(0, STEPS)).toEqual(firstRound.losses);
    const total = (ix: number[][]) => ix.reduce((s, l) => s + l.length, 0);
    const firstSets = indicesOf(firstRound);
    const twoSets = indicesOf(two);
    for (let l = 0; l < firstSets.length; l++) {
      const have = new Set(twoSets[l]);
      for (const i of firstSets[l]) expect(have.has(i)).toBe(true);
    }
    // Round 2 adds as many again, all new (shut neurons are never picked twice).
    expect(total(twoSets)).toBe(2 * total(firstSets));
    expect(
      two.concept.description.origin.kind === 'extracted' &&
        two.concept.description.origin.hyper_parameters.rounds,
    ).toBe(2);
    // Round 2 trains with round 1's neurons shut: its first loss is not the untouched model's.
    expect(two.losses[STEPS]).not.toBe(firstRound.losses[0]);
  }, 240_000);

  it('resumes an interrupted second round to the uninterrupted result', async () => {
    const payload = (cacheDir: string) => ({
      ...extractPayload(m, cacheDir),
      noResultCache: true,
      checkpointEvery: 1,
      settings: settings({ rounds: 2 }),
    });
    const whole = await runExtraction(payload(fresh()), taskContext());
    const cacheDir = fresh();
    await expect(
      runExtraction(payload(cacheDir), taskContext({ abortAfterSteps: STEPS + 2 })),
    ).rejects.toBeInstanceOf(InterruptedError);
    const logs: string[] = [];
    const resumed = await runExtraction(payload(cacheDir), taskContext({ logs }));
    expect(logs.join('\n')).toMatch(/round 2\/2 at step 2\/4/);
    expect(resumed.resumedFrom).toBe(STEPS + 2);
    expect(indicesOf(resumed)).toEqual(indicesOf(whole));
    expect(resumed.losses.slice(STEPS + 2)).toEqual(whole.losses.slice(STEPS + 2));
  }, 240_000);

  it('refuses a round count that is not an integer from 1 to 20', () => {
    for (const rounds of [0, 1.5, 21, Number.NaN])
      expect(settingsProblem({ ...DEFAULT_EXTRACT_SETTINGS, rounds })).toMatch(/rounds must be/);
    expect(settingsProblem({ ...DEFAULT_EXTRACT_SETTINGS, rounds: 3 })).toBeNull();
  });
});
