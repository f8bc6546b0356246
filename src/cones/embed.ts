/**
 * Concepts travel with workflows, by value (base64 of the `.cones.safetensors` file):
 *
 *  - UI workflow (saved .json, `extra_pnginfo.workflow`, the PNG `workflow` chunk):
 *      `workflow.extra.cones_concepts = { "<concept_name>": { sha256, data } }`
 *    The front end keeps `graph.extra` through load/save and sends it back in
 *    `extra_data.extra_pnginfo.workflow`, and SaveImage writes that workflow into its PNGs.
 *  - API prompt (what `/prompt` executes): on each ConesLoadConcept node,
 *      `"_meta": { "title": …, "cones_concept": { name, sha256, data } }`
 *    Validation ignores `_meta`, so scripts and SDKs can send self-contained prompts.
 *
 * `sha256` is the hex SHA-256 of the decoded file bytes; `name` is the Load Concept combo value.
 */
import { sha256Hex } from './checksum.js';

export const WORKFLOW_EXTRA_KEY = 'cones_concepts';
export const PROMPT_META_KEY = 'cones_concept';
export const LOAD_CONCEPT_CLASS = 'ConesLoadConcept';
export const LOAD_CONCEPT_INPUT = 'concept_name';

export interface EmbeddedConcept {
  sha256: string;
  data: string;
}

export class EmbeddedConceptError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EmbeddedConceptError';
  }
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A UI workflow has `nodes` (and `links`); an API prompt maps node ids to `{class_type, inputs}`. */
function isUiWorkflow(v: Json): boolean {
  return Array.isArray(v.nodes);
}

function isApiPrompt(v: Json): boolean {
  const values = Object.values(v);
  return values.length > 0 && values.every((n) => isObject(n) && typeof n.class_type === 'string');
}

export function encodeEmbedded(bytes: Uint8Array): EmbeddedConcept {
  return {
    sha256: sha256Hex(bytes),
    data: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64'),
  };
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Decodes and verifies one embedded copy; throws naming the concept on bad base64 or hash. */
export function decodeEmbedded(name: string, entry: unknown): Uint8Array {
  if (!isObject(entry) || typeof entry.data !== 'string' || typeof entry.sha256 !== 'string') {
    throw new EmbeddedConceptError(`embedded concept '${name}' is malformed (expected {sha256, data})`);
  }
  const text = entry.data.replace(/\s+/g, '');
  if (text.length % 4 !== 0 || !BASE64.test(text)) {
    throw new EmbeddedConceptError(`embedded concept '${name}' is not valid base64`);
  }
  const bytes = new Uint8Array(Buffer.from(text, 'base64'));
  const actual = sha256Hex(bytes);
  if (actual !== entry.sha256.toLowerCase()) {
    throw new EmbeddedConceptError(
      `embedded concept '${name}' is corrupted: its data hash to sha256 ${actual}, the workflow says ${entry.sha256}`,
    );
  }
  return bytes;
}

function embedInUi(workflow: Json, entries: Record<string, EmbeddedConcept>): Json {
  const extra = isObject(workflow.extra) ? workflow.extra : {};
  const existing = isObject(extra[WORKFLOW_EXTRA_KEY]) ? (extra[WORKFLOW_EXTRA_KEY] as Json) : {};
  return { ...workflow, extra: { ...extra, [WORKFLOW_EXTRA_KEY]: { ...existing, ...entries } } };
}

function embedInApi(prompt: Json, entries: Record<string, EmbeddedConcept>): Json {
  const out: Json = {};
  const used = new Set<string>();
  for (const [id, node] of Object.entries(prompt)) {
    const n = node as Json;
    const name = isObject(n.inputs) ? n.inputs[LOAD_CONCEPT_INPUT] : undefined;
    if (n.class_type === LOAD_CONCEPT_CLASS && typeof name === 'string' && entries[name]) {
      const meta = isObject(n._meta) ? n._meta : {};
      out[id] = { ...n, _meta: { ...meta, [PROMPT_META_KEY]: { name, ...entries[name] } } };
      used.add(name);
    } else {
      out[id] = n;
    }
  }
  const unused = Object.keys(entries).filter((n) => !used.has(n));
  if (unused.length) {
    throw new EmbeddedConceptError(
      `the API prompt has no ${LOAD_CONCEPT_CLASS} node with ${LOAD_CONCEPT_INPUT} '${unused[0]}' to carry it`,
    );
  }
  return out;
}

/**
 * Returns a copy of `workflow` carrying `files` (concept name → file bytes) by value. Accepts a UI
 * workflow, an API prompt, or a `/prompt` body `{prompt, extra_data}` (both parts are filled).
 */
export function embedConcepts(workflow: unknown, files: Record<string, Uint8Array>): Json {
  if (!isObject(workflow)) throw new EmbeddedConceptError('workflow must be a JSON object');
  const entries: Record<string, EmbeddedConcept> = {};
  for (const [name, bytes] of Object.entries(files)) entries[name] = encodeEmbedded(bytes);
  if (isUiWorkflow(workflow)) return embedInUi(workflow, entries);
  if (isObject(workflow.prompt)) {
    const body: Json = { ...workflow, prompt: embedInApi(workflow.prompt, entries) };
    const extraData = isObject(workflow.extra_data) ? workflow.extra_data : undefined;
    const pnginfo = extraData && isObject(extraData.extra_pnginfo) ? extraData.extra_pnginfo : undefined;
    if (extraData && pnginfo && isObject(pnginfo.workflow)) {
      body.extra_data = {
        ...extraData,
        extra_pnginfo: { ...pnginfo, workflow: embedInUi(pnginfo.workflow, entries) },
      };
    }
    return body;
  }
  if (isApiPrompt(workflow)) return embedInApi(workflow, entries);
  throw new EmbeddedConceptError(
    'not a workflow: expected a UI workflow (with "nodes"), an API prompt or a /prompt body',
  );
}

/** Raw embedded entries (not yet decoded) found anywhere in a workflow-like value. */
export function listEmbeddedConcepts(source: unknown): Map<string, unknown> {
  const found = new Map<string, unknown>();
  const visit = (v: unknown, depth: number): void => {
    if (depth > 4) return;
    if (typeof v === 'string') {
      // PNG text chunks hold JSON strings (`workflow`, `prompt`).
      if (v.startsWith('{') && v.includes(WORKFLOW_EXTRA_KEY.slice(0, 5))) {
        try {
          visit(JSON.parse(v), depth + 1);
        } catch {
          // not JSON: ignore
        }
      }
      return;
    }
    if (!isObject(v)) return;
    if (isObject(v.extra) && isObject(v.extra[WORKFLOW_EXTRA_KEY])) {
      for (const [name, entry] of Object.entries(v.extra[WORKFLOW_EXTRA_KEY] as Json))
        if (!found.has(name)) found.set(name, entry);
    }
    if (isApiPrompt(v)) {
      for (const node of Object.values(v) as Json[]) {
        const meta = node._meta;
        if (isObject(meta) && isObject(meta[PROMPT_META_KEY])) {
          const entry = meta[PROMPT_META_KEY] as Json;
          if (typeof entry.name === 'string' && !found.has(entry.name)) found.set(entry.name, entry);
        }
      }
      return;
    }
    // Containers: /prompt body, extra_data, extra_pnginfo, PNG chunk maps.
    for (const key of ['workflow', 'prompt', 'extra_data', 'extra_pnginfo'])
      if (key in v) visit(v[key], depth + 1);
  };
  visit(source, 0);
  return found;
}

/** Every embedded concept, decoded and verified (throws on the first bad one, naming it). */
export function extractEmbeddedConcepts(source: unknown): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  for (const [name, entry] of listEmbeddedConcepts(source)) out.set(name, decodeEmbedded(name, entry));
  return out;
}

/** One named concept's embedded bytes from a node's hidden inputs, or undefined when not carried. */
export function findEmbeddedConcept(
  name: string,
  hidden: { prompt?: unknown; extraPngInfo?: unknown },
): Uint8Array | undefined {
  for (const source of [hidden.prompt, hidden.extraPngInfo]) {
    const entry = listEmbeddedConcepts(source).get(name);
    if (entry !== undefined) return decodeEmbedded(name, entry);
  }
  return undefined;
}
