import { setTimeout as sleep } from 'node:timers/promises';
import type { NodeDefinition } from '../nodes/types.js';

/**
 * Small diagnostic nodes for tests of the engine and the server (register them with
 * `createPromptService({ extraNodes: createTestNodes().nodes })`). They compute real values, count
 * their executions, and include a long interruptible node and a worker-bound node.
 */
/** A valid 1×1 PNG (grey pixel). */
const TINY_PNG = Uint8Array.from(
  Buffer.from(
    'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNoAAAAggCBd81ytgAAAABJRU5ErkJggg==',
    'base64',
  ),
);

export interface TestNodes {
  nodes: NodeDefinition[];
  /** Executions per class name since creation. */
  calls: Record<string, number>;
}

export function createTestNodes(): TestNodes {
  const calls: Record<string, number> = {};
  const count = (name: string) => {
    calls[name] = (calls[name] ?? 0) + 1;
  };
  const nodes: NodeDefinition[] = [
    {
      name: 'TestConstant',
      displayName: 'Test Constant',
      category: 'testing',
      description: 'Outputs its integer widget.',
      inputs: { required: { value: { type: 'INT', default: 0, min: -1000, max: 1000 } } },
      outputs: [{ type: 'INT' }],
      async execute(inputs) {
        count('TestConstant');
        return { outputs: [inputs.value] };
      },
    },
    {
      name: 'TestRange',
      displayName: 'Test Range',
      category: 'testing',
      description: 'Outputs the list 0 … count−1 (a list output: downstream nodes run once per item).',
      inputs: { required: { count: { type: 'INT', default: 3, min: 0, max: 100 } } },
      outputs: [{ type: 'INT', isList: true }],
      async execute(inputs) {
        count('TestRange');
        return { outputs: [Array.from({ length: Number(inputs.count) }, (_, i) => i)] };
      },
    },
    {
      name: 'TestAdd',
      displayName: 'Test Add',
      category: 'testing',
      description: 'a + b.',
      inputs: {
        required: { a: { type: 'INT', default: 0, forceInput: true }, b: { type: 'INT', default: 1 } },
      },
      outputs: [{ type: 'INT', name: 'sum' }],
      async execute(inputs) {
        count('TestAdd');
        return { outputs: [Number(inputs.a) + Number(inputs.b)] };
      },
    },
    {
      name: 'TestOutput',
      displayName: 'Test Output',
      category: 'testing',
      description: 'Shows an integer as UI text.',
      inputs: { required: { value: { type: 'INT', default: 0, forceInput: true } } },
      outputs: [],
      outputNode: true,
      async execute(inputs) {
        count('TestOutput');
        return { outputs: [], ui: { text: [String(inputs.value)] } };
      },
    },
    {
      name: 'TestVolatile',
      displayName: 'Test Volatile',
      category: 'testing',
      description: 'Never cached; outputs how often it ran.',
      notCacheable: true,
      inputs: { required: {} },
      outputs: [{ type: 'INT' }],
      async execute() {
        count('TestVolatile');
        return { outputs: [calls.TestVolatile] };
      },
    },
    {
      name: 'TestSleep',
      displayName: 'Test Sleep',
      category: 'testing',
      description: 'Waits `ms` on the main thread in `steps` slices, reporting progress; interruptible.',
      inputs: {
        required: {
          value: { type: 'INT', default: 0, forceInput: true },
          ms: { type: 'INT', default: 100, min: 0, max: 600000 },
          steps: { type: 'INT', default: 10, min: 1, max: 1000 },
        },
      },
      outputs: [{ type: 'INT' }],
      async execute(inputs, ctx) {
        count('TestSleep');
        const steps = Number(inputs.steps);
        for (let s = 0; s < steps; s++) {
          await sleep(Number(inputs.ms) / steps);
          ctx.checkInterrupt();
          ctx.progress(s + 1, steps);
        }
        return { outputs: [inputs.value] };
      },
    },
    {
      name: 'TestWorkerSpin',
      displayName: 'Test Worker Spin',
      category: 'testing',
      description: 'Keeps a runtime worker busy for `ms` (CPU), main thread stays free; interruptible.',
      inputs: { required: { ms: { type: 'INT', default: 2000, min: 0, max: 600000 } } },
      outputs: [],
      outputNode: true,
      async execute(inputs, ctx) {
        count('TestWorkerSpin');
        const r = await ctx.runtime.call(
          'debug.spin',
          { ms: Number(inputs.ms), steps: 20 },
          { signal: ctx.signal, onProgress: (p) => ctx.progress(p.value, p.max) },
        );
        return { outputs: [], ui: { text: [`spun ${r.steps} steps`] } };
      },
    },
    {
      name: 'TestPreview',
      displayName: 'Test Preview',
      category: 'testing',
      description: 'Reports `steps` progress updates, each with a 1×1 PNG preview.',
      inputs: { required: { steps: { type: 'INT', default: 2, min: 1, max: 100 } } },
      outputs: [],
      outputNode: true,
      async execute(inputs, ctx) {
        count('TestPreview');
        const steps = Number(inputs.steps);
        for (let s = 1; s <= steps; s++) ctx.progress(s, steps, { format: 'PNG', bytes: TINY_PNG });
        return { outputs: [], ui: { text: [`${steps} previews`] } };
      },
    },
    {
      name: 'TestFail',
      displayName: 'Test Fail',
      category: 'testing',
      description: 'Throws an error with the given message.',
      inputs: {
        required: { message: { type: 'STRING', default: 'boom' } },
        optional: { value: { type: 'INT', default: 0, forceInput: true } },
      },
      outputs: [],
      outputNode: true,
      async execute(inputs) {
        count('TestFail');
        throw new RangeError(String(inputs.message));
      },
    },
    {
      name: 'TestChoice',
      displayName: 'Test Choice',
      category: 'testing',
      description: 'A combo, a float and a custom validation, for validation tests.',
      inputs: {
        required: {
          mode: { type: 'COMBO', options: ['alpha', 'beta'] },
          ratio: { type: 'FLOAT', default: 0.5, min: 0, max: 1, step: 0.01 },
          label: { type: 'STRING', default: 'ok' },
          flag: { type: 'BOOLEAN', default: false },
        },
      },
      outputs: [],
      outputNode: true,
      validate(inputs) {
        return inputs.label === 'forbidden' ? 'label must not be "forbidden"' : null;
      },
      async execute(inputs) {
        count('TestChoice');
        return {
          outputs: [],
          ui: { text: [`${inputs.mode}:${inputs.ratio}:${inputs.label}:${inputs.flag}`] },
        };
      },
    },
  ];
  return { nodes, calls };
}
