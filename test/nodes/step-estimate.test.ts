import { describe, expect, it } from 'vitest';
import { estimateLines, estimateSteps, StepClock } from '../../src/nodes/step-estimate.js';
import { formatDuration } from '../../src/shared/duration.js';

describe('training time estimate', () => {
  it('is the mean time per step since the first step seen, times the steps left', () => {
    expect(estimateSteps({ step: 1, at: 5_000 }, { step: 1, at: 9_000 }, 10)).toBeUndefined();
    expect(estimateSteps({ step: 1, at: 5_000 }, { step: 5, at: 9_000 }, 10)).toEqual({
      stepSeconds: 1,
      remainingSeconds: 5,
      totalSeconds: 10,
    });
    // a resumed run: the clock starts at the first step this run reports
    expect(estimateSteps({ step: 400, at: 0 }, { step: 402, at: 126_000 }, 1000)).toEqual({
      stepSeconds: 63,
      remainingSeconds: 63 * 598,
      totalSeconds: 63_000,
    });
  });

  it('StepClock leaves out the first step (loading and warm-up) and starts again on a new run', () => {
    const times = [0, 63_000, 126_000, 186_000, 500_000, 501_000];
    const clock = new StepClock(() => times.shift()!);
    expect(clock.stepDone(1, 1000)).toBeUndefined();
    expect(clock.stepDone(2, 1000)?.stepSeconds).toBe(63);
    expect(clock.stepDone(3, 1000)?.stepSeconds).toBe(63);
    expect(clock.stepDone(4, 1000)).toEqual({
      stepSeconds: 62,
      remainingSeconds: 62 * 996,
      totalSeconds: 62_000,
    });
    expect(clock.stepDone(1, 3)).toBeUndefined();
    expect(clock.stepDone(2, 3)).toEqual({ stepSeconds: 1, remainingSeconds: 1, totalSeconds: 3 });
  });

  it('formats durations for people', () => {
    expect(formatDuration(0.4)).toBe('0 s');
    expect(formatDuration(42)).toBe('42 s');
    expect(formatDuration(200)).toBe('3 min 20 s');
    expect(formatDuration(17 * 60 + 20)).toBe('17 min');
    expect(formatDuration(2 * 3600 + 10 * 60)).toBe('2 h 10 min');
    expect(formatDuration(63_000)).toBe('17 h 30 min');
    expect(formatDuration(Number.NaN)).toBe('?');
  });

  it('says total and time left, and warns with a step count that fits an hour when over an hour is left', () => {
    const long = estimateLines(
      'cones: extraction estimate',
      { stepSeconds: 63, remainingSeconds: 62_937, totalSeconds: 63_000 },
      1000,
    );
    expect(long[0]).toBe(
      'cones: extraction estimate: about 17 h 30 min on this machine (63 s per step, 1000 steps); about 17 h 29 min left',
    );
    expect(long[1]).toMatch(
      /WARNING: about 17 h 29 min left; .*fewer steps \(57 steps take about 1 h 0 min here\).*smaller resolution/,
    );
    const short = estimateLines('x', { stepSeconds: 0.42, remainingSeconds: 8.4, totalSeconds: 8.82 }, 21);
    expect(short).toEqual(['x: about 9 s on this machine (0.42 s per step, 21 steps); about 8 s left']);
  });
});
