/**
 * Issue #2 items 5 and 9: every invalid prompt and every bad mask upload, sent over real HTTP, gets
 * its status code and ComfyUI error type — and queues or stores nothing.
 */
import { readFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestNodes } from '../../src/engine/testing-nodes.js';
import type { NodeDefinition, NodeEnvironment } from '../../src/nodes/types.js';
import { gradientPng, json, RecordingSocket, startTestServer, type TestServer } from './helpers.js';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.dispose());

const choice = (inputs: Record<string, unknown>) => ({
  class_type: 'TestChoice',
  inputs: { mode: 'alpha', ratio: 0.5, label: 'x', flag: true, ...inputs },
});
const failed = 'prompt_outputs_failed_validation';

// [case, prompt, top-level error type, node with the error, that node's error type]
const invalidPrompts: Array<[string, unknown, string, string | null, string | null]> = [
  ['unknown class', { '1': { class_type: 'NoSuchNode', inputs: {} } }, 'missing_node_type', null, null],
  [
    'no output node',
    { '1': { class_type: 'TestConstant', inputs: { value: 1 } } },
    'prompt_no_outputs',
    null,
    null,
  ],
  ['prompt not an object', 'text', 'invalid_prompt', null, null],
  [
    'missing required input',
    { '2': { class_type: 'TestOutput', inputs: {} } },
    failed,
    '2',
    'required_input_missing',
  ],
  [
    'link that is not [id, slot]',
    { '2': { class_type: 'TestOutput', inputs: { value: ['1', 0, 3] } } },
    failed,
    '2',
    'bad_linked_input',
  ],
  [
    'link to a node that does not exist',
    { '2': { class_type: 'TestOutput', inputs: { value: ['8', 0] } } },
    failed,
    '2',
    'bad_linked_input',
  ],
  [
    'type mismatch',
    {
      '1': { class_type: 'LoadImage', inputs: { image: 'x.png' } },
      '2': { class_type: 'TestOutput', inputs: { value: ['1', 0] } },
    },
    failed,
    '2',
    'return_type_mismatch',
  ],
  ['value below min', { '1': choice({ ratio: -0.5 }) }, failed, '1', 'value_smaller_than_min'],
  ['value above max', { '1': choice({ ratio: 1.5 }) }, failed, '1', 'value_bigger_than_max'],
  ['value not convertible', { '1': choice({ ratio: 'abc' }) }, failed, '1', 'invalid_input_type'],
  ['value not in list', { '1': choice({ mode: 'gamma' }) }, failed, '1', 'value_not_in_list'],
  [
    'cycle',
    {
      '1': { class_type: 'TestAdd', inputs: { a: ['2', 0], b: 1 } },
      '2': { class_type: 'TestAdd', inputs: { a: ['1', 0], b: 1 } },
      '3': { class_type: 'TestOutput', inputs: { value: ['2', 0] } },
    },
    failed,
    null,
    'dependency_cycle',
  ],
];

describe('POST /prompt with an invalid prompt', () => {
  it.each(invalidPrompts)('%s → 400 %s', async (_case, prompt, type, nodeId, nodeType) => {
    for (const prefix of ['', '/api']) {
      const res = await fetch(`${server.url}${prefix}/prompt`, {
        method: 'POST',
        body: JSON.stringify({ prompt }),
      });
      expect(res.status).toBe(400);
      const body = await json(res);
      expect(body.error.type).toBe(type);
      expect(typeof body.error.message).toBe('string');
      if (nodeType) {
        const errors = nodeId
          ? body.node_errors[nodeId].errors
          : Object.values(body.node_errors as Record<string, { errors: unknown[] }>).flatMap((n) => n.errors);
        expect(errors.map((e: { type: string }) => e.type)).toContain(nodeType);
      } else {
        expect(body.node_errors ?? {}).toEqual({});
      }
    }
    const queue = await json(fetch(`${server.url}/queue`));
    expect(queue.queue_running).toEqual([]);
    expect(queue.queue_pending).toEqual([]);
  });

  it('still accepts a valid prompt afterwards', async () => {
    const res = await fetch(`${server.url}/prompt`, {
      method: 'POST',
      body: JSON.stringify({ prompt: { '1': choice({}) } }),
    });
    expect(res.status).toBe(200);
  });
});

describe('POST /upload/mask with a bad original_ref', () => {
  async function uploadMask(originalRef: string | null) {
    const form = new FormData();
    form.append('image', new Blob([await gradientPng(4, 4, true)], { type: 'image/png' }), 'mask.png');
    if (originalRef !== null) form.append('original_ref', originalRef);
    return fetch(`${server.url}/upload/mask`, { method: 'POST', body: form });
  }

  it.each([
    ['absent', null, 400, 'invalid_original_ref'],
    ['not JSON', '{filename', 400, 'invalid_original_ref'],
    ['without a filename', '{"subfolder":""}', 400, 'invalid_original_ref'],
    ['a filename that escapes', '{"filename":"../../secret.png","type":"input"}', 400, 'invalid_filename'],
    [
      'a subfolder that escapes',
      '{"filename":"passwd","subfolder":"../../../etc","type":"input"}',
      403,
      'path_escape',
    ],
    ['an unknown folder type', '{"filename":"a.png","type":"secrets"}', 400, 'invalid_type'],
  ])('original_ref %s → %i %s, nothing stored', async (_case, ref, status, type) => {
    const before = await readdir(server.dirs.input);
    const res = await uploadMask(ref);
    expect(res.status).toBe(status);
    expect((await json(res)).error.type).toBe(type);
    expect(await readdir(server.dirs.input)).toEqual(before);
  });
});

/** Issue #9 items 6 and 7: long chains, exceptions without server paths, prototype-named ids. */
describe('hardened graph handling over HTTP', () => {
  let hardened: TestServer;
  const logs: string[] = [];
  // Nodes that fail the way real ones do: a file system error, whose message names an absolute path.
  const missingFile = (env: NodeEnvironment) => join(env.dirs.input, 'nested', 'missing.bin');
  const fsNodes: NodeDefinition[] = [
    {
      name: 'TestReadOnValidate',
      displayName: 'Test Read On Validate',
      category: 'testing',
      description: 'Reads a missing file while validating.',
      inputs: { required: {} },
      outputs: [],
      outputNode: true,
      validate(_inputs, env) {
        readFileSync(missingFile(env));
        return null;
      },
      async execute() {
        return { outputs: [] };
      },
    },
    {
      name: 'TestReadOnExecute',
      displayName: 'Test Read On Execute',
      category: 'testing',
      description: 'Reads a missing file while executing.',
      inputs: { required: {} },
      outputs: [],
      outputNode: true,
      async execute(_inputs, ctx) {
        readFileSync(missingFile(ctx.env));
        return { outputs: [] };
      },
    },
  ];
  beforeAll(async () => {
    hardened = await startTestServer({
      serviceOptions: { extraNodes: [...createTestNodes().nodes, ...fsNodes], log: (m) => logs.push(m) },
    });
  });
  afterAll(() => hardened?.dispose());

  const post = (body: unknown) =>
    fetch(`${hardened.url}/prompt`, { method: 'POST', body: JSON.stringify(body) });
  /** Polls /history until the prompt has finished (the test's own timeout bounds the wait). */
  async function finished(promptId: string) {
    for (;;) {
      const item = (await json(fetch(`${hardened.url}/history/${promptId}`)))[promptId];
      if (item) return item;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  /** Server-side locations a response must not reveal: absolute paths and stack frames. */
  const expectNoServerInternals = (text: string) => {
    expect(text).not.toContain(hardened.dataDir);
    expect(text).not.toContain(process.cwd());
    expect(text).not.toMatch(/(^|[\s'"(])\/[\w.-]+\/[\w.-]+/);
    expect(text).not.toMatch(/\bat \S+ \(/);
    expect(text).not.toMatch(/\bat (file:|\/)/);
  };

  it('validates, runs and caches a 20,000-node chain', async () => {
    const n = 20_000;
    const prompt: Record<string, unknown> = { '0': { class_type: 'TestConstant', inputs: { value: 0 } } };
    for (let i = 1; i <= n; i++)
      prompt[String(i)] = { class_type: 'TestAdd', inputs: { a: [String(i - 1), 0], b: 1 } };
    prompt.out = { class_type: 'TestOutput', inputs: { value: [String(n), 0] } };
    const first = await post({ prompt });
    expect(first.status).toBe(200);
    const run = await finished((await json(first)).prompt_id);
    expect(run.status.status_str).toBe('success');
    expect(run.outputs.out).toEqual({ text: [String(n)] });
    // the same chain again comes from the output cache, every node of it
    const again = await finished((await json(post({ prompt }))).prompt_id);
    expect(again.status.status_str).toBe('success');
    const cached = again.status.messages.find(([type]: [string]) => type === 'execution_cached')[1];
    expect(cached.nodes).toHaveLength(n + 2);
    expect(again.outputs.out).toEqual({ text: [String(n)] });
  }, 120_000);

  it('answers an exception inside validation with its message, without paths or stack frames', async () => {
    logs.length = 0;
    const res = await post({ prompt: { '1': { class_type: 'TestReadOnValidate', inputs: {} } } });
    expect(res.status).toBe(400);
    const text = await res.text();
    expectNoServerInternals(text);
    const error = JSON.parse(text).node_errors['1'].errors[0];
    expect(error.type).toBe('exception_during_validation');
    expect(error.details).toMatch(/ENOENT.*missing\.bin/);
    expect(error.extra_info.traceback.join('')).toContain('missing.bin');
    // the full report, stack included, went to the service log
    expect(logs.join('\n')).toContain(join(hardened.dirs.input, 'nested', 'missing.bin'));
    expect(logs.join('\n')).toMatch(/\n\s+at /);
  });

  it('answers a combo value that cannot be printed as a string with value_not_in_list', async () => {
    const res = await post({ prompt: { '1': choice({ mode: { toString: 1 } }) } });
    expect(res.status).toBe(400);
    const text = await res.text();
    expectNoServerInternals(text);
    expect(JSON.parse(text).node_errors['1'].errors[0].type).toBe('value_not_in_list');
  });

  it('reports a node exception over /ws without server paths in exception_message or traceback', async () => {
    const socket = await RecordingSocket.open(`${hardened.url.replace('http', 'ws')}/ws?clientId=paths`);
    try {
      const queued = await json(
        post({ client_id: 'paths', prompt: { '1': { class_type: 'TestReadOnExecute', inputs: {} } } }),
      );
      const { data } = await socket.next(
        (m) => m.type === 'execution_error' && m.data.prompt_id === queued.prompt_id,
      );
      expect(data.exception_type).toBe('Error');
      expect(data.exception_message).toMatch(/ENOENT.*missing\.bin/);
      expect(Array.isArray(data.traceback)).toBe(true);
      expectNoServerInternals(data.exception_message);
      expectNoServerInternals(data.traceback.join(''));
      // history carries the same message
      const item = await finished(queued.prompt_id);
      expectNoServerInternals(JSON.stringify(item.status.messages));
    } finally {
      socket.close();
    }
  });

  it.each(['__proto__', 'constructor', 'toString', 'hasOwnProperty'])(
    'runs a node whose id is %s like any other',
    async (id) => {
      // JSON text: an object literal would turn `__proto__` into a prototype, not a key
      const body = `{"prompt": {
        "${id}": {"class_type": "TestConstant", "inputs": {"value": 5}},
        "2": {"class_type": "TestAdd", "inputs": {"a": ["${id}", 0], "b": 1, "__proto__": {"b": 100}}},
        "out-${id}": {"class_type": "TestOutput", "inputs": {"value": ["2", 0]}},
        "${id === '__proto__' ? 'constructor' : '__proto__'}": {"class_type": "TestOutput", "inputs": {"value": ["${id}", 0]}}
      }}`;
      const res = await fetch(`${hardened.url}/prompt`, { method: 'POST', body });
      expect(res.status).toBe(200);
      const item = await finished((await json(res)).prompt_id);
      expect(item.status.status_str).toBe('success');
      expect(Object.keys(item.prompt[2])).toContain(id);
      expect(item.outputs[`out-${id}`]).toEqual({ text: ['6'] });
      expect(item.outputs[id === '__proto__' ? 'constructor' : '__proto__']).toEqual({ text: ['5'] });
    },
  );
});
