/**
 * Issue #2 items 5 and 9: every invalid prompt and every bad mask upload, sent over real HTTP, gets
 * its status code and ComfyUI error type — and queues or stores nothing.
 */
import { readdir } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gradientPng, json, startTestServer, type TestServer } from './helpers.js';

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
