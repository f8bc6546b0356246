#!/usr/bin/env node
/**
 * Runs a Cones example workflow on a cones-nodes server over the native protocol (WebSocket
 * `/native`, subprotocol `cones.v1.msgpack`: every frame is plain msgpack `{type, id?, data?}`), then
 * saves the output images. Start a server first (`cones-nodes serve`), then:
 *
 *   node examples/cones-client.mjs [--url ws://127.0.0.1:8188/native]
 *        [--workflow examples/workflows/cones-single-subject.api.json] [--out cones-client-out]
 *
 * The subject photos of the workflow's Load Subject Photos nodes are uploaded first (into
 * input/<subject>/), so the server needs nothing but its checkpoint.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Packr } from 'msgpackr';
import WebSocket from 'ws';

const here = dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: {
    url: { type: 'string', default: 'ws://127.0.0.1:8188/native' },
    workflow: { type: 'string', default: join(here, 'workflows', 'cones-single-subject.api.json') },
    out: { type: 'string', default: 'cones-client-out' },
    quiet: { type: 'boolean', default: false },
  },
});
const say = (m) => values.quiet || console.log(m);
const packr = new Packr({ useRecords: false, mapsAsObjects: true, variableMapSize: true });

const ws = new WebSocket(values.url, 'cones.v1.msgpack');
ws.binaryType = 'nodebuffer';
await new Promise((ok, fail) => {
  ws.once('open', ok);
  ws.once('error', fail);
});

let nextId = 1;
const waiting = new Map();
const listeners = new Set();
ws.on('message', (raw) => {
  const msg = packr.unpack(raw);
  if (msg.id !== undefined && waiting.has(msg.id)) {
    const { ok, fail } = waiting.get(msg.id);
    waiting.delete(msg.id);
    if (msg.type === 'error') fail(new Error(`${msg.data.code}: ${msg.data.message}`));
    else ok(msg.data);
    return;
  }
  for (const listener of listeners) listener(msg);
});

/** One request, answered by id. */
function request(type, data = {}) {
  const id = nextId++;
  return new Promise((ok, fail) => {
    waiting.set(id, { ok, fail });
    ws.send(packr.pack({ type, id, data }));
  });
}

const hello = await request('hello', { protocol: 'cones.v1', encoding: 'msgpack' });
say(`connected to ${hello.server} as ${hello.client_id}`);

const prompt = JSON.parse(readFileSync(resolve(values.workflow), 'utf8'));
for (const node of Object.values(prompt)) {
  if (node.class_type !== 'ConesLoadSubjectImages') continue;
  const subject = node.inputs.subject;
  const folder = join(here, 'subjects', subject);
  for (const file of readdirSync(folder).sort()) {
    await request('upload', { filename: file, subfolder: subject, type: 'input', overwrite: true, bytes: readFileSync(join(folder, file)) });
  }
  say(`uploaded the photos of '${subject}'`);
}

const finished = new Promise((ok, fail) => {
  const outputs = [];
  listeners.add((msg) => {
    const d = msg.data ?? {};
    if (msg.type === 'progress') say(`  node ${d.node}: ${d.value}/${d.max}`);
    else if (msg.type === 'executing' && d.node) say(`running node ${d.node} (${prompt[d.node]?.class_type})`);
    else if (msg.type === 'executed') for (const image of d.output?.images ?? []) outputs.push(image);
    else if (msg.type === 'execution_success') ok(outputs);
    else if (msg.type === 'execution_error') fail(new Error(`${d.node_type}: ${d.exception_message}`));
    else if (msg.type === 'execution_interrupted') fail(new Error('interrupted'));
  });
});
const queued = await request('queue_prompt', { prompt });
say(`queued prompt ${queued.prompt_id}`);
const images = await finished;

mkdirSync(values.out, { recursive: true });
for (const image of images) {
  const file = await request('get_output', { filename: image.filename, subfolder: image.subfolder, type: image.type });
  const target = join(values.out, image.filename);
  writeFileSync(target, file.bytes);
  console.log(target);
}
ws.close();
