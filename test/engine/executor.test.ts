import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveDataDirs } from '../../src/engine/data-dirs.js';
import { Executor, executionOrder } from '../../src/engine/executor.js';
import type { Job } from '../../src/engine/job.js';
import { OutputCache } from '../../src/engine/output-cache.js';
import type { EngineEvent } from '../../src/engine/service-types.js';
import { createTestNodes } from '../../src/engine/testing-nodes.js';
import { validatePrompt } from '../../src/engine/validate.js';
import { createNodeRegistry } from '../../src/nodes/index.js';
import type { NodeDefinition } from '../../src/nodes/types.js';
import { WorkerRuntime } from '../../src/runtime/worker-runtime.js';

const registry = createNodeRegistry(createTestNodes().nodes);
const env = { dirs: resolveDataDirs({ dataDir: mkdtempSync(join(tmpdir(), 'cones-exec-')) }) };
const runtime = new WorkerRuntime();
afterAll(() => runtime.close());

async function jobOf(prompt: Record<string, unknown>): Promise<Job> {
  const v = await validatePrompt(prompt, registry, env);
  if (!v.ok) throw new Error(JSON.stringify(v.error));
  return {
    number: 0,
    promptId: 'p-1',
    prompt: v.prompt,
    extraData: { client_id: 'c' },
    outputs: v.outputs,
    clientId: 'c',
  };
}

describe('Executor', () => {
  it('runs a job that crossed a serialization boundary and returns plain data (a queue transport can carry both)', async () => {
    const job = await jobOf({
      '1': { class_type: 'TestConstant', inputs: { value: 2 } },
      '2': { class_type: 'TestAdd', inputs: { a: ['1', 0], b: 3 } },
      '3': { class_type: 'TestOutput', inputs: { value: ['2', 0] } },
      '9': { class_type: 'TestConstant', inputs: { value: 99 } }, // not needed by any output
    });
    const wire = JSON.parse(JSON.stringify(job)) as Job;
    const events: EngineEvent[] = [];
    const executor = new Executor({
      registry,
      env,
      runtime,
      cache: new OutputCache(),
      emit: (e) => events.push(e),
    });
    const outcome = await executor.execute(wire, new AbortController().signal);
    expect(JSON.parse(JSON.stringify(outcome))).toEqual(outcome);
    expect(outcome.outputs).toEqual({ '3': { text: ['5'] } });
    const ran = events
      .filter((e) => e.kind === 'json' && e.type === 'executing')
      .map((e) => e.kind === 'json' && e.data.node);
    expect(ran).toEqual(['1', '2', '3']);
  });

  it('lists every started node in progress_state for small prompts, only unfinished ones past 200', async () => {
    const chainOf = async (n: number) => {
      const prompt: Record<string, unknown> = { '0': { class_type: 'TestConstant', inputs: { value: 0 } } };
      for (let i = 1; i <= n; i++)
        prompt[String(i)] = { class_type: 'TestAdd', inputs: { a: [String(i - 1), 0], b: 1 } };
      prompt.out = { class_type: 'TestOutput', inputs: { value: [String(n), 0] } };
      const events: EngineEvent[] = [];
      const executor = new Executor({
        registry,
        env,
        runtime,
        cache: new OutputCache(),
        emit: (e) => events.push(e),
      });
      const outcome = await executor.execute(await jobOf(prompt), new AbortController().signal);
      const states = events.flatMap((e) =>
        e.kind === 'json' && e.type === 'progress_state'
          ? [e.data.nodes as Record<string, { state: string }>]
          : [],
      );
      return { outcome, states };
    };
    const small = await chainOf(10);
    expect(Object.keys(small.states.at(-1) ?? {})).toHaveLength(12);
    // ComfyUI resends every started node on each change: quadratic in the node count
    const large = await chainOf(1000);
    expect(large.outcome.outputs).toEqual({ out: { text: ['1000'] } });
    const last = large.states.at(-1) ?? {};
    expect(Object.keys(last)).toEqual([]);
    const running = large.states.at(-2) ?? {};
    expect(Object.entries(running).map(([id, p]) => [id, p.state])).toEqual([['out', 'running']]);
    expect(Math.max(...large.states.map((s) => Object.keys(s).length))).toBeLessThanOrEqual(200);
  });

  it('orders dependencies first and follows output ids numerically', async () => {
    const job = await jobOf({
      '10': { class_type: 'TestOutput', inputs: { value: ['4', 0] } },
      '2': { class_type: 'TestOutput', inputs: { value: ['5', 0] } },
      '4': { class_type: 'TestAdd', inputs: { a: ['5', 0], b: 1 } },
      '5': { class_type: 'TestConstant', inputs: { value: 1 } },
    });
    expect(executionOrder(job, new Set(['10', '2', '4', '5']))).toEqual(['5', '2', '4', '10']);
  });

  it("sends a node's namespaced event with prompt and node ids to the prompt's client, refusing un-namespaced types", async () => {
    const sender: NodeDefinition = {
      name: 'TestSendEvent',
      displayName: 'Send Event',
      category: 'testing',
      description: 'Sends one node event of the given type.',
      inputs: { required: { type: { type: 'STRING', default: 'test.event' } } },
      outputs: [],
      outputNode: true,
      async execute(inputs, ctx) {
        ctx.sendEvent(String(inputs.type), { step: 1 });
        return { outputs: [] };
      },
    };
    const withSender = createNodeRegistry([...createTestNodes().nodes, sender]);
    const run = async (type: string) => {
      const v = await validatePrompt(
        { '5': { class_type: 'TestSendEvent', inputs: { type } } },
        withSender,
        env,
      );
      if (!v.ok) throw new Error(JSON.stringify(v.error));
      const job: Job = {
        number: 0,
        promptId: 'p-ev',
        prompt: v.prompt,
        extraData: {},
        outputs: v.outputs,
        clientId: 'c',
      };
      const events: EngineEvent[] = [];
      const executor = new Executor({
        registry: withSender,
        env,
        runtime,
        cache: new OutputCache(),
        emit: (e) => events.push(e),
      });
      const outcome = await executor.execute(job, new AbortController().signal);
      return { outcome, events };
    };
    const ok = await run('test.event');
    expect(ok.events.filter((e) => e.kind === 'json' && e.type === 'test.event')).toEqual([
      {
        kind: 'json',
        clientId: 'c',
        type: 'test.event',
        data: { step: 1, prompt_id: 'p-ev', node: '5', display_node: '5' },
      },
    ]);
    const spoof = await run('execution_success');
    expect(spoof.outcome.status.status_str).toBe('error');
    expect(JSON.stringify(spoof.outcome.status.messages)).toMatch(/must be namespaced/);
  });
});
