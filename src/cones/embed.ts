/**
 * Concepts travel with workflows, by value (base64 of the `.cones.safetensors` file):
 *
 *  - UI workflow (saved .json, `extra_pnginfo.workflow`, the PNG `workflow` chunk):
 *      `workflow.extra.cones_concepts = { "<concept_name>": { sha256, data[, node, recipe, key] } }`
 *    The front end keeps `graph.extra` through load/save and sends it back in
 *    `extra_data.extra_pnginfo.workflow`, and SaveImage writes that workflow into its PNGs.
 *  - API prompt (what `/prompt` executes, the PNG `prompt` chunk): on the node that loaded or made it,
 *      `"_meta": { "title": …, "cones_concept": { name, sha256, data[, recipe, key] } }`
 *    Validation ignores `_meta`, so scripts and SDKs can send self-contained prompts.
 *
 * `sha256` is the hex SHA-256 of the decoded file bytes; `name` is the Load Concept combo value, or a
 * generated file name for a concept a node made (Extract Concept, a refined Merge Concepts). A made
 * concept also records the id of the `node` that made it, that node's `recipe` (recipe.ts) and its
 * content `key` (for Extract Concept the extraction hash), by which the node finds it again instead
 * of computing it. During a run the executor collects every concept loaded or made (`CarriedConcept`)
 * and the PROMPT / EXTRA_PNGINFO hidden values, history and everything written from them carry them.
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

/** One concept a run loaded or made, as it is carried in what the run writes. */
export interface CarriedConcept extends EmbeddedConcept {
  /** Load Concept's `concept_name`, or a generated file name (`producedConceptName`). */
  name: string;
  /** Made concepts: the id of the node that made it (where it goes in an API prompt). */
  node?: string;
  /** Made concepts: that node's recipe (recipe.ts). */
  recipe?: string;
  /** Made concepts: the content key of the computation (same key, same concept). */
  key?: string;
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

/** A file name for a concept a node made: `<identifier>-<class noun>-<key prefix>.cones.safetensors`. */
export function producedConceptName(parts: string[], key: string): string {
  const safe = parts.map((p) => p.replace(/[^A-Za-z0-9_-]+/g, '_').slice(0, 40) || '_');
  return `${[...safe, key.slice(0, 12)].join('-')}.cones.safetensors`;
}

/** A carried entry for file bytes; `made` for a concept a node computed. */
export function carriedConcept(
  name: string,
  bytes: Uint8Array,
  made?: { node: string; recipe: string; key: string },
): CarriedConcept {
  return { name, ...encodeEmbedded(bytes), ...made };
}

function uiEntry(c: CarriedConcept): Json {
  const { name: _name, ...rest } = c;
  return rest;
}

function metaEntry(c: CarriedConcept): Json {
  const { node: _node, ...rest } = c;
  return rest;
}

function embedInUi(workflow: Json, entries: readonly CarriedConcept[]): Json {
  const extra = isObject(workflow.extra) ? workflow.extra : {};
  const map: Json = isObject(extra[WORKFLOW_EXTRA_KEY]) ? { ...(extra[WORKFLOW_EXTRA_KEY] as Json) } : {};
  for (const c of entries) {
    // A node's older result (other photos, other settings) is replaced, so a lookup by recipe finds one.
    if (c.recipe !== undefined)
      for (const [label, old] of Object.entries(map))
        if (isObject(old) && (old.recipe === c.recipe || (c.node !== undefined && old.node === c.node)))
          delete map[label];
    map[c.name] = uiEntry(c);
  }
  return { ...workflow, extra: { ...extra, [WORKFLOW_EXTRA_KEY]: map } };
}

/** Named concepts go on the Load Concept nodes of that name, made ones on the node that made them. */
function embedInApi(prompt: Json, entries: readonly CarriedConcept[], strict: boolean): Json {
  const out: Json = { ...prompt };
  const used = new Set<CarriedConcept>();
  const put = (id: string, c: CarriedConcept) => {
    const n = out[id] as Json;
    const meta = isObject(n._meta) ? n._meta : {};
    out[id] = { ...n, _meta: { ...meta, [PROMPT_META_KEY]: metaEntry(c) } };
    used.add(c);
  };
  for (const c of entries) {
    if (c.node !== undefined) {
      if (Object.hasOwn(prompt, c.node) && isObject(prompt[c.node])) put(c.node, c);
      continue;
    }
    for (const [id, node] of Object.entries(prompt)) {
      const n = node as Json;
      const name = isObject(n.inputs) ? n.inputs[LOAD_CONCEPT_INPUT] : undefined;
      if (n.class_type === LOAD_CONCEPT_CLASS && name === c.name) put(id, c);
    }
  }
  const unused = entries.filter((c) => !used.has(c));
  if (strict && unused.length) {
    throw new EmbeddedConceptError(
      `the API prompt has no ${LOAD_CONCEPT_CLASS} node with ${LOAD_CONCEPT_INPUT} '${unused[0].name}' to carry it`,
    );
  }
  return out;
}

/**
 * A copy of a UI workflow or an API prompt carrying `entries` (what a run loaded or made); any other
 * value is returned as it is. Entries an API prompt has no node for are left out.
 */
export function embedCarried<T>(value: T, entries: readonly CarriedConcept[]): T {
  if (entries.length === 0 || !isObject(value)) return value;
  if (isUiWorkflow(value)) return embedInUi(value, entries) as T;
  if (isApiPrompt(value)) return embedInApi(value, entries, false) as T;
  return value;
}

/**
 * Returns a copy of `workflow` carrying `files` (concept name → file bytes) by value. Accepts a UI
 * workflow, an API prompt, or a `/prompt` body `{prompt, extra_data}` (both parts are filled).
 */
export function embedConcepts(workflow: unknown, files: Record<string, Uint8Array>): Json {
  if (!isObject(workflow)) throw new EmbeddedConceptError('workflow must be a JSON object');
  const entries = Object.entries(files).map(([name, bytes]) => carriedConcept(name, bytes));
  if (isUiWorkflow(workflow)) return embedInUi(workflow, entries);
  if (isObject(workflow.prompt)) {
    const body: Json = { ...workflow, prompt: embedInApi(workflow.prompt, entries, true) };
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
  if (isApiPrompt(workflow)) return embedInApi(workflow, entries, true);
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

/** What carried entries are searched in: a node's PROMPT and EXTRA_PNGINFO hidden values. */
export interface CarrierSources {
  prompt?: unknown;
  extraPngInfo?: unknown;
}

/** A carried entry as found (not yet decoded): its name and the fields a made concept is matched by. */
export interface FoundCarried {
  name: string;
  sha256: string;
  recipe?: string;
  key?: string;
  /** Decodes and verifies the bytes (throws naming the concept on bad base64 or hash). */
  bytes(): Uint8Array;
}

/** The first carried concept (API prompt `_meta` first, then the UI workflow) that `matches`. */
export function findCarried(
  sources: CarrierSources,
  matches: (entry: { name: string; recipe?: string; key?: string }) => boolean,
): FoundCarried | undefined {
  const text = (v: unknown) => (typeof v === 'string' ? v : undefined);
  for (const source of [sources.prompt, sources.extraPngInfo]) {
    for (const [name, entry] of listEmbeddedConcepts(source)) {
      if (!isObject(entry) || typeof entry.sha256 !== 'string') continue;
      const found = { name, recipe: text(entry.recipe), key: text(entry.key) };
      if (matches(found)) return { ...found, sha256: entry.sha256, bytes: () => decodeEmbedded(name, entry) };
    }
  }
  return undefined;
}
