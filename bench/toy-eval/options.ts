/** Command-line option parsing shared by the toy-world scripts (eval:toy, eval:cones, demo:grid). */
import { SAMPLER_NAMES, SCHEDULER_NAMES } from '../../src/sd/pipeline/names.js';
import { numberOption } from '../../src/shared/option-values.js';
import type { SamplingSettings } from './pipeline.js';

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
