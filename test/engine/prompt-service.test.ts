import { existsSync, readdirSync, rmSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ApiPrompt, QueuePromptRequest } from '../../src/engine/service-types.js';
import { DEMO_CHECKPOINT_NAME } from '../../src/sd/tiny-model.js';
import { createHarness, type Harness } from './helpers.js';

const chain = (value = 3): ApiPrompt => ({
  '1': { class_type: 'TestConstant', inputs: { value } },
  '2': { class_type: 'TestAdd', inputs: { a: ['1', 0], b: 4 } },
  '3': { class_type: 'TestOutput', inputs: { value: ['2', 0] } },
});

describe('PromptService execution', () => {
  let h: Harness;
  beforeEach(() => {
    h = createHarness();
  });
  afterEach(() => h.close());

  async function runPrompt(request: QueuePromptRequest) {
    const r = await h.service.queuePrompt({ client_id: 'client-1', ...request });
    if (!r.ok) throw new Error(JSON.stringify(r));
    return { id: r.prompt_id, entry: await h.service.waitForPrompt(r.prompt_id) };
  }

  it('emits ComfyUI events in order and writes history before the status that drops the job', async () => {
    let historyAtStatus: unknown = 'unset';
    let lastId = '';
    h.service.onEvent((e) => {
      if (e.kind === 'json' && e.type === 'status' && lastId && h.service.queueRemaining() === 0)
        historyAtStatus = h.service.getHistoryItem(lastId)[lastId]?.status.status_str;
    });
    const r = await h.service.queuePrompt({ client_id: 'client-1', prompt: chain() });
    if (!r.ok) throw new Error('queue failed');
    lastId = r.prompt_id;
    const entry = await h.service.waitForPrompt(r.prompt_id);
    expect(historyAtStatus).toBe('success');
    const types = h.jsonEvents(r.prompt_id).map(([t]) => t);
    expect(types).toEqual([
      'status',
      'status',
      'execution_start',
      'execution_cached',
      ...['progress_state', 'executing', 'progress_state'],
      ...['progress_state', 'executing', 'progress_state'],
      ...['progress_state', 'executing', 'progress_state', 'executed'],
      'execution_success',
      'status',
      'executing',
    ]);
    const events = h.jsonEvents(r.prompt_id);
    expect(events[0][1]).toEqual({ status: { exec_info: { queue_remaining: 1 } } });
    expect(events.at(-2)?.[1]).toEqual({ status: { exec_info: { queue_remaining: 0 } } });
    expect(events.at(-1)?.[1]).toEqual({ node: null, prompt_id: r.prompt_id });
    const executed = events.find(([t]) => t === 'executed')?.[1];
    expect(executed).toEqual({
      node: '3',
      display_node: '3',
      output: { text: ['7'] },
      prompt_id: r.prompt_id,
    });
    const state = events.filter(([t]) => t === 'progress_state').at(-1)?.[1] as {
      nodes: Record<string, any>;
    };
    expect(Object.keys(state.nodes).sort()).toEqual(['1', '2', '3']);
    expect(state.nodes['3']).toMatchObject({
      state: 'finished',
      node_id: '3',
      display_node_id: '3',
      real_node_id: '3',
    });
    expect(entry.outputs).toEqual({ '3': { text: ['7'] } });
    expect(entry.status.completed).toBe(true);
    expect(entry.status.messages.map(([t]) => t)).toEqual([
      'execution_start',
      'execution_cached',
      'execution_success',
    ]);
    expect(entry.prompt[1]).toBe(r.prompt_id);
    expect(entry.prompt[3]).toMatchObject({ client_id: 'client-1' });
    expect(entry.prompt[4]).toEqual(['3']);
    expect(entry.meta['3']).toEqual({
      node_id: '3',
      display_node: '3',
      parent_node: null,
      real_node_id: '3',
    });
    // events of the prompt go to its client; status is broadcast
    for (const e of h.events)
      if (e.kind === 'json') expect(e.clientId).toBe(e.type === 'status' ? null : 'client-1');
  });

  it('sends progress, progress_state and binary preview frames (type 1, u32 BE format code)', async () => {
    const { id } = await runPrompt({ prompt: { '1': { class_type: 'TestPreview', inputs: { steps: 2 } } } });
    const relevant = h.events.filter(
      (e) => e.kind === 'binary' || (e.kind === 'json' && ['progress', 'progress_state'].includes(e.type)),
    );
    const kinds = relevant.map((e) => (e.kind === 'binary' ? `binary${e.eventType}` : e.type));
    expect(kinds).toEqual([
      'progress_state', // node start
      ...['progress', 'progress_state', 'binary1'],
      ...['progress', 'progress_state', 'binary1'],
      'progress_state', // node finished
    ]);
    const progress = h.jsonEvents(id).filter(([t]) => t === 'progress');
    expect(progress[1][1]).toEqual({ value: 2, max: 2, prompt_id: id, node: '1' });
    const frame = relevant.find((e) => e.kind === 'binary');
    if (frame?.kind !== 'binary') throw new Error('no preview frame');
    expect(frame.clientId).toBe('client-1');
    const view = new DataView(frame.payload.buffer, frame.payload.byteOffset, frame.payload.byteLength);
    expect(view.getUint32(0)).toBe(2); // PNG
    expect(Array.from(frame.payload.subarray(4, 8))).toEqual([0x89, 0x50, 0x4e, 0x47]);
  });

  it('serves a repeated prompt from the cache and still sends executed for cached outputs', async () => {
    await runPrompt({ prompt: chain() });
    expect(h.test.calls.TestAdd).toBe(1);
    h.events.length = 0;
    const { id, entry } = await runPrompt({ prompt: chain() });
    expect(h.test.calls.TestAdd).toBe(1);
    expect(h.test.calls.TestOutput).toBe(1);
    const events = h.jsonEvents(id);
    expect(events.find(([t]) => t === 'execution_cached')?.[1].nodes).toEqual(['1', '2', '3']);
    expect(events.filter(([t]) => t === 'executing').map(([, d]) => d.node)).toEqual([null]);
    // ComfyUI reaches only the (cached) output node; its cached inputs stay silent
    expect(events.filter(([t]) => t === 'executed').map(([, d]) => d.node)).toEqual(['3']);
    expect(events.filter(([t]) => t === 'progress_state')).toHaveLength(1);
    expect(entry.outputs).toEqual({ '3': { text: ['7'] } });
    // a changed upstream widget re-runs that node and everything downstream
    await runPrompt({ prompt: chain(10) });
    expect(h.test.calls.TestConstant).toBe(2);
    expect(h.test.calls.TestAdd).toBe(2);
  });

  it('maps nodes over list outputs and merges their UI output (ComfyUI list semantics)', async () => {
    const { entry } = await runPrompt({
      prompt: {
        '1': { class_type: 'TestRange', inputs: { count: 3 } },
        '2': { class_type: 'TestAdd', inputs: { a: ['1', 0], b: 10 } },
        '3': { class_type: 'TestOutput', inputs: { value: ['2', 0] } },
      },
    });
    expect(h.test.calls.TestAdd).toBe(3);
    expect(entry.outputs['3']).toEqual({ text: ['10', '11', '12'] });
    const empty = await runPrompt({
      prompt: {
        '1': { class_type: 'TestRange', inputs: { count: 0 } },
        '3': { class_type: 'TestOutput', inputs: { value: ['1', 0] } },
      },
    });
    expect(empty.entry.status.status_str).toBe('success');
    expect(empty.entry.outputs).toEqual({});
  });

  it('re-runs notCacheable nodes and their dependents every time', async () => {
    const prompt: ApiPrompt = {
      '1': { class_type: 'TestVolatile', inputs: {} },
      '2': { class_type: 'TestOutput', inputs: { value: ['1', 0] } },
      '3': { class_type: 'TestConstant', inputs: { value: 1 } },
      '4': { class_type: 'TestOutput', inputs: { value: ['3', 0] } },
    };
    await runPrompt({ prompt });
    const { entry } = await runPrompt({ prompt });
    expect(h.test.calls.TestVolatile).toBe(2);
    expect(h.test.calls.TestOutput).toBe(3); // node 2 twice, node 4 once (cached the second time)
    expect(entry.outputs['2']).toEqual({ text: ['2'] });
  });

  it('interrupt stops the running node at its next check and later nodes do not run', async () => {
    const prompt: ApiPrompt = {
      '1': { class_type: 'TestConstant', inputs: { value: 1 } },
      '2': { class_type: 'TestSleep', inputs: { value: ['1', 0], ms: 20000, steps: 400 } },
      '3': { class_type: 'TestOutput', inputs: { value: ['2', 0] } },
    };
    const r = await h.service.queuePrompt({ client_id: 'client-1', prompt });
    if (!r.ok) throw new Error('queue failed');
    await new Promise<void>((resolve) => {
      const off = h.service.onEvent((e) => {
        if (e.kind === 'json' && e.type === 'progress' && e.data.node === '2') {
          off();
          resolve();
        }
      });
    });
    expect(h.service.currentExecution?.()).toEqual({
      prompt_id: r.prompt_id,
      node: '2',
      client_id: 'client-1',
    });
    h.service.interrupt('some-other-prompt');
    h.service.interrupt(r.prompt_id);
    const entry = await h.service.waitForPrompt(r.prompt_id);
    // Stopped at a check, not after its 400 steps (counted, not timed: a loaded machine is slow, not wrong).
    const steps = h.jsonEvents(r.prompt_id).filter(([t, d]) => t === 'progress' && d.node === '2');
    expect(steps.length).toBeLessThan(400);
    expect(h.test.calls.TestOutput).toBeUndefined();
    expect(entry.status).toMatchObject({ status_str: 'error', completed: false });
    const last = entry.status.messages.at(-1);
    expect(last?.[0]).toBe('execution_interrupted');
    expect(last?.[1]).toMatchObject({
      prompt_id: r.prompt_id,
      node_id: '2',
      node_type: 'TestSleep',
      executed: ['1'],
    });
    const types = h.jsonEvents(r.prompt_id).map(([t]) => t);
    expect(types.slice(-3)).toEqual(['execution_interrupted', 'status', 'executing']);
    expect(h.service.currentExecution?.()).toBeNull();
  });

  it('interrupt stops a node that waits on a runtime worker', async () => {
    const r = await h.service.queuePrompt({
      client_id: 'client-1',
      prompt: { '1': { class_type: 'TestWorkerSpin', inputs: { ms: 20000 } } },
    });
    if (!r.ok) throw new Error('queue failed');
    await new Promise<void>((resolve) => {
      const off = h.service.onEvent((e) => {
        if (e.kind === 'json' && e.type === 'progress') {
          off();
          resolve();
        }
      });
    });
    h.service.interrupt();
    const entry = await h.service.waitForPrompt(r.prompt_id);
    expect(entry.status.messages.at(-1)?.[0]).toBe('execution_interrupted');
  });

  it('turns a node exception into execution_error and keeps serving', async () => {
    const { id, entry } = await runPrompt({
      prompt: {
        '1': { class_type: 'TestConstant', inputs: { value: 2 } },
        '2': { class_type: 'TestFail', inputs: { message: 'kaputt', value: ['1', 0] } },
      },
    });
    expect(entry.status).toMatchObject({ status_str: 'error', completed: false });
    const error = h.jsonEvents(id).find(([t]) => t === 'execution_error')?.[1];
    expect(error).toMatchObject({
      prompt_id: id,
      node_id: '2',
      node_type: 'TestFail',
      executed: ['1'],
      exception_message: 'kaputt',
      exception_type: 'RangeError',
      current_inputs: { message: ['kaputt'], value: [2] },
      current_outputs: ['1'],
    });
    // ComfyUI's traceback field stays, filled with the message: stack frames name server files
    expect(error?.traceback).toEqual(['RangeError: kaputt\n']);
    expect(typeof error?.timestamp).toBe('number');
    const types = h.jsonEvents(id).map(([t]) => t);
    expect(types.slice(-3)).toEqual(['execution_error', 'status', 'executing']);
    const next = await runPrompt({ prompt: chain() });
    expect(next.entry.status.status_str).toBe('success');
  });

  it('returns the 400 body shape for invalid prompts and does not queue them', async () => {
    const r = await h.service.queuePrompt({ prompt: { '1': { class_type: 'Nope', inputs: {} } } });
    expect(r).toMatchObject({ ok: false, error: { type: 'missing_node_type' }, node_errors: {} });
    expect(h.service.queueRemaining()).toBe(0);
    expect(h.events).toHaveLength(0);
    const bad = await h.service.queuePrompt({ prompt: chain(), prompt_id: 'NOT-A-UUID' });
    expect(bad).toMatchObject({ ok: false, error: { type: 'invalid_prompt_id' } });
  });

  it('orders the queue by number, front first, and supports delete, clear and client prompt ids', async () => {
    const blocker = await h.service.queuePrompt({
      prompt: {
        '1': { class_type: 'TestConstant', inputs: { value: 0 } },
        '2': { class_type: 'TestSleep', inputs: { value: ['1', 0], ms: 300, steps: 3 } },
        '3': { class_type: 'TestOutput', inputs: { value: ['2', 0] } },
      },
    });
    await new Promise<void>((resolve) => {
      const off = h.service.onEvent((e) => {
        if (e.kind === 'json' && e.type === 'executing') {
          off();
          resolve();
        }
      });
    });
    const a = await h.service.queuePrompt({ prompt: chain(1) });
    const b = await h.service.queuePrompt({ prompt: chain(2), front: true });
    const c = await h.service.queuePrompt({ prompt: chain(3), number: -100 });
    const id = '0b7e4c2a-1111-4222-8333-444455556666';
    const d = await h.service.queuePrompt({ prompt: chain(4), prompt_id: id });
    if (!blocker.ok || !a.ok || !b.ok || !c.ok || !d.ok) throw new Error('queue failed');
    expect(d.prompt_id).toBe(id);
    expect([blocker.number, a.number, b.number, c.number]).toEqual([0, 1, -2, -100]);
    const q = h.service.getQueue();
    expect(q.queue_running.map((i) => i[1])).toEqual([blocker.prompt_id]);
    expect(q.queue_pending.map((i) => i[1])).toEqual([c.prompt_id, b.prompt_id, a.prompt_id, id]);
    expect(q.queue_pending[0]).toHaveLength(5);
    expect(h.service.queueRemaining()).toBe(5);
    const waitingForA = h.service.waitForPrompt(a.prompt_id);
    h.service.deleteFromQueue([a.prompt_id]);
    await expect(waitingForA).rejects.toThrow(/removed from the queue/);
    expect(h.service.getQueue().queue_pending).toHaveLength(3);
    await h.service.whenIdle();
    const order = Object.keys(h.service.getHistory());
    expect(order).toEqual([blocker.prompt_id, c.prompt_id, b.prompt_id, id]);
    expect(Object.keys(h.service.getHistory({ maxItems: 2 }))).toEqual([b.prompt_id, id]);
    expect(Object.keys(h.service.getHistory({ maxItems: 1, offset: 1 }))).toEqual([c.prompt_id]);
    h.service.deleteHistory([id]);
    expect(h.service.getHistoryItem(id)).toEqual({});
    h.service.clearHistory();
    expect(h.service.getHistory()).toEqual({});
  });

  it('free({free_memory}) empties the output cache', async () => {
    await runPrompt({ prompt: chain() });
    await h.service.free({ free_memory: true });
    await runPrompt({ prompt: chain() });
    expect(h.test.calls.TestAdd).toBe(2);
  });

  it('free({unload_models}) runs the workers’ unload hooks', async () => {
    const probe = () => h.service.runtime.call('debug.unloadProbe', {});
    expect((await probe()).calls).toBe(0);
    await h.service.free({ unload_models: true });
    await h.service.free({ unload_models: true });
    expect((await probe()).calls).toBe(2);
  });

  it('objectInfo lists the shipped and the registered nodes', async () => {
    const info = await h.service.objectInfo();
    expect(Object.keys(info)).toEqual(expect.arrayContaining(['LoadImage', 'SaveImage', 'TestSleep']));
  });

  it('close() waits for the demo checkpoint write that a listing started', async () => {
    const folder = h.service.env.dirs.models.checkpoints.at(-1)!;
    await h.service.objectInfo(); // the checkpoint combo starts writing the demo file
    const first = h.service.close();
    await h.service.close(); // a second caller waits for the same shutdown
    // The file is complete (renamed from its temp file) and nothing writes any more.
    expect(readdirSync(folder)).toEqual([DEMO_CHECKPOINT_NAME]);
    await first;
    rmSync(h.dataDir, { recursive: true });
    expect(existsSync(h.dataDir)).toBe(false);
  });

  it('strips sensitive extra_data and stamps client_id and create_time', async () => {
    const { entry } = await runPrompt({
      prompt: chain(),
      extra_data: { auth_token_comfy_org: 'secret', api_key_comfy_org: 'k', extra_pnginfo: { workflow: {} } },
    });
    expect(entry.prompt[3]).not.toHaveProperty('auth_token_comfy_org');
    expect(entry.prompt[3]).not.toHaveProperty('api_key_comfy_org');
    expect(entry.prompt[3]).toMatchObject({ client_id: 'client-1', extra_pnginfo: { workflow: {} } });
    expect(typeof entry.prompt[3].create_time).toBe('number');
  });
});
