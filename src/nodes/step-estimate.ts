/**
 * How long a training run will take, from the steps it has finished so far: the mean time per step
 * since the first step seen (that first step also carries model loading and warm-up, so it only
 * starts the clock), times the steps left.
 */
import { formatDuration } from '../shared/duration.js';

export interface StepEstimate {
  /** Mean seconds per step so far. */
  stepSeconds: number;
  /** Seconds until the last step at that pace. */
  remainingSeconds: number;
  /** Seconds all `steps` take at that pace. */
  totalSeconds: number;
}

interface StepMark {
  step: number;
  /** Milliseconds on a monotonic clock. */
  at: number;
}

/** The estimate from two finished steps of `steps`; undefined until a later step follows the first. */
export function estimateSteps(first: StepMark, latest: StepMark, steps: number): StepEstimate | undefined {
  const done = latest.step - first.step;
  if (done <= 0) return undefined;
  const stepSeconds = Math.max(0, latest.at - first.at) / 1000 / done;
  return {
    stepSeconds,
    remainingSeconds: stepSeconds * Math.max(0, steps - latest.step),
    totalSeconds: stepSeconds * steps,
  };
}

/** Feeds `estimateSteps` from step reports as they arrive (a new run needs a new clock). */
export class StepClock {
  private first: StepMark | undefined;

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** `step` of `steps` just finished; the estimate from the second reported step on. */
  stepDone(step: number, steps: number): StepEstimate | undefined {
    const mark = { step, at: this.now() };
    if (!this.first || step <= this.first.step) {
      this.first = mark;
      return undefined;
    }
    return estimateSteps(this.first, mark, steps);
  }
}

/** Past this many seconds left, the estimate comes with a warning and what to change. */
export const LONG_RUN_SECONDS = 3600;

/**
 * The log lines for an estimate: total and time left on this machine, and for a run with more than
 * `LONG_RUN_SECONDS` left a warning naming the step count that fits in that time.
 */
export function estimateLines(what: string, estimate: StepEstimate, steps: number): string[] {
  const { stepSeconds, remainingSeconds, totalSeconds } = estimate;
  const perStep = stepSeconds < 10 ? stepSeconds.toPrecision(2) : stepSeconds.toFixed(0);
  const lines = [
    `${what}: about ${formatDuration(totalSeconds)} on this machine (${perStep} s per step, ${steps} steps); about ${formatDuration(remainingSeconds)} left`,
  ];
  if (remainingSeconds > LONG_RUN_SECONDS) {
    const fitting = Math.max(1, Math.floor(LONG_RUN_SECONDS / Math.max(stepSeconds, 1e-9)));
    lines.push(
      `${what}: WARNING: about ${formatDuration(remainingSeconds)} left; for a quicker run use fewer steps ` +
        `(${fitting} steps take about ${formatDuration(LONG_RUN_SECONDS)} here) or a smaller resolution ` +
        '(a step costs roughly in proportion to its pixel count: half the side is about 4× faster)',
    );
  }
  return lines;
}
