import { readdir } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gradientPng, json, startTestServer, type TestServer } from './helpers.js';

/** Broken upload bodies are the client's mistake: 400 with a reason, nothing stored, the server keeps serving. */

const BOUNDARY = 'cones-test-boundary';
const PART_HEAD =
  `--${BOUNDARY}\r\nContent-Disposition: form-data; name="image"; filename="broken.png"\r\n` +
  'Content-Type: image/png\r\n\r\n';

const malformed: Array<[string, string, Record<string, string>, string]> = [
  [
    'a body cut off inside the file part',
    'invalid_multipart',
    { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
    `${PART_HEAD}partial bytes`,
  ],
  [
    'a multipart content type without a boundary',
    'invalid_multipart',
    { 'content-type': 'multipart/form-data' },
    `${PART_HEAD}bytes\r\n--${BOUNDARY}--\r\n`,
  ],
  [
    'a body that is not multipart at all',
    'not_multipart',
    { 'content-type': 'application/json' },
    '{"image":"broken.png"}',
  ],
  [
    'a multipart body without the image field',
    'missing_file',
    { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
    `--${BOUNDARY}\r\nContent-Disposition: form-data; name="subfolder"\r\n\r\nx\r\n--${BOUNDARY}--\r\n`,
  ],
];

describe('malformed upload bodies', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server?.dispose());

  for (const route of ['/upload/image', '/upload/mask']) {
    it.each(malformed)(`${route}: %s → 400 %s`, async (_case, type, headers, body) => {
      const res = await fetch(server.url + route, { method: 'POST', headers, body });
      expect(res.status).toBe(400);
      const answer = await json(res);
      expect(answer.error.type).toBe(type);
      expect(answer.error.message).not.toBe('Internal server error');
      expect(await readdir(server.dirs.input)).not.toContain('broken.png');
      expect((await fetch(`${server.url}/queue`)).status).toBe(200);
    });
  }

  it('still accepts a well-formed upload afterwards', async () => {
    const form = new FormData();
    form.append('image', new Blob([await gradientPng(2, 2)], { type: 'image/png' }), 'fine.png');
    const res = await fetch(`${server.url}/upload/image`, { method: 'POST', body: form });
    expect(res.status).toBe(200);
    expect((await json(res)).name).toBe('fine.png');
  });
});
