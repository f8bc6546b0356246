/** KSampler's combo values: defined once by the samplers and the schedule (ComfyUI's names). */
export { SAMPLER_NAMES } from '../samplers/index.js';
export { SCHEDULER_NAMES } from '../schedule.js';
