/** Command-line option parsing shared by the toy-world scripts (eval:toy, eval:cones, demo:grid). */
import { SAMPLER_NAMES, SCHEDULER_NAMES } from '../../src/sd/pipeline/names.js';
import type { SamplingSettings } from './pipeline.js';

/** `--name` as an integer in [min, max], or `fallback` when absent; throws naming the option otherwise. */
export function intOption(
  name: string,
  value: string | undefined,
  fallback: number,
  min = 1,
  max = Infinity,
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min || n > max)
    throw new Error(
      max === Infinity
        ? `--${name} must be an integer ≥ ${min}, got '${value}'`
        : `--${name} must be an integer in ${min}…${max}, got '${value}'`,
    );
  return n;
}

/**
 * `--name` as a finite number ≥ `min` (> `min` with `exclusiveMin`) and ≤ `max` when given, or
 * `fallback` when absent; throws naming the option and the range otherwise.
 */
export function numberOption(
  name: string,
  value: string | undefined,
  fallback: number,
  range: { min: number; exclusiveMin?: boolean; max?: number },
): number {
  if (value === undefined) return fallback;
  const x = Number(value);
  const aboveMin = range.exclusiveMin ? x > range.min : x >= range.min;
  if (!(Number.isFinite(x) && aboveMin && (range.max === undefined || x <= range.max))) {
    const bounds =
      range.max === undefined
        ? `≥ ${range.min}`
        : `in ${range.exclusiveMin ? '(' : '['}${range.min}, ${range.max}]`;
    throw new Error(`--${name} must be a number ${bounds}, got '${value}'`);
  }
  return x;
}

/** `--sampler`, `--scheduler` and `--cfg`, each checked, else the defaults'. */
export function samplingChoice(
  values: { sampler?: string; scheduler?: string; cfg?: string },
  defaults: Omit<SamplingSettings, 'steps'>,
): Omit<SamplingSettings, 'steps'> {
  const samplerName = values.sampler ?? defaults.samplerName;
  const scheduler = values.scheduler ?? defaults.scheduler;
  if (!(SAMPLER_NAMES as string[]).includes(samplerName))
    throw new Error(`--sampler must be one of ${SAMPLER_NAMES.join(', ')}`);
  if (!(SCHEDULER_NAMES as string[]).includes(scheduler))
    throw new Error(`--scheduler must be one of ${SCHEDULER_NAMES.join(', ')}`);
  const cfg = numberOption('cfg', values.cfg, defaults.cfg, { min: 0 });
  return { samplerName, scheduler, cfg };
}
