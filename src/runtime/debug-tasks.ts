import { onUnloadModels } from '../shared/model-unload.js';
import type { RuntimeSettings } from '../shared/runtime-settings.js';
import type { TaskHandlers, TaskSpec } from '../shared/tasks.js';

let unloadProbeCalls = 0;
let unloadProbeRegistered = false;

export interface DebugTasks {
  'debug.spin': TaskSpec<{ ms: number; steps?: number }, { steps: number; checksum: number }>;
  'debug.double': TaskSpec<{ data: Float32Array }, { sum: number; data: Float32Array }>;
  'debug.unloadProbe': TaskSpec<Record<string, never>, { calls: number }>;
  'debug.fail': TaskSpec<{ message: string }, never>;
  'debug.crash': TaskSpec<Record<string, never>, never>;
  'debug.settings': TaskSpec<Record<string, never>, RuntimeSettings>;
}

/**
 * Diagnostic tasks: exercise the worker machinery (responsiveness while busy, abort, transfer, errors,
 * crash recovery) in tests and benchmarks. Harmless in production: they only burn CPU they are asked to.
 */
export const debugTasks: TaskHandlers<DebugTasks> = {
  /** Busy-loops for `ms` milliseconds of CPU, reporting `steps` progress updates and honouring aborts. */
  'debug.spin': async (payload, ctx) => {
    const steps = Math.max(1, payload.steps ?? 10);
    const slice = payload.ms / steps;
    let x = 0;
    for (let s = 0; s < steps; s++) {
      const end = performance.now() + slice;
      while (performance.now() < end) {
        x += Math.sqrt(x + 1);
        if (ctx.aborted) break;
      }
      ctx.checkInterrupt();
      ctx.progress(s + 1, steps);
    }
    return { result: { steps, checksum: x } };
  },
  /** Returns the sum of a Float32Array and hands the (doubled) array back by transfer. */
  'debug.double': async (payload) => {
    const out = new Float32Array(payload.data.length);
    let sum = 0;
    for (let i = 0; i < out.length; i++) {
      sum += payload.data[i];
      out[i] = payload.data[i] * 2;
    }
    return { result: { sum, data: out }, transfer: [out.buffer as ArrayBuffer] };
  },
  /** Registers (once) an unload hook that counts its calls; returns the count so far. */
  'debug.unloadProbe': async () => {
    if (!unloadProbeRegistered) {
      unloadProbeRegistered = true;
      onUnloadModels(() => {
        unloadProbeCalls++;
      });
    }
    return { result: { calls: unloadProbeCalls } };
  },
  'debug.fail': async (payload) => {
    throw new TypeError(payload.message);
  },
  /** The settings the worker was started with. */
  'debug.settings': async (_payload, ctx) => ({ result: ctx.settings }),
  /** Kills the worker thread from inside (an uncaught error outside the task's promise). */
  'debug.crash': async () => {
    setTimeout(() => {
      throw new Error('deliberate worker crash');
    }, 0);
    return new Promise(() => {});
  },
};
