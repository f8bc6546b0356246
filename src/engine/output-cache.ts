import { createHash, randomUUID } from 'node:crypto';
import type { CarriedConcept } from '../cones/embed.js';
import type { NodeRegistry } from '../nodes/registry.js';
import type { HiddenValues, NodeEnvironment } from '../nodes/types.js';
import { keyedRecord } from './keyed-record.js';
import type { ApiPrompt } from './service-types.js';
import { isLinkValue } from './validate.js';

/**
 * Output cache across prompts, keyed like ComfyUI's input-signature cache: class + literal inputs +
 * the signatures of linked ancestors (with the output slot) + the node's fingerprint (IS_CHANGED).
 * Node ids are not part of the key, so the same sub-graph under other ids hits. `notCacheable` nodes
 * get a fresh nonce per prompt, which also makes everything downstream of them re-run.
 * Retention follows ComfyUI's default ("classic") cache: after a prompt only the entries that prompt
 * used stay.
 */

export interface CachedOutput {
  outputs: unknown[];
  ui?: Record<string, unknown>;
  /** Concepts the node carried when it ran (replayed on a hit). */
  carried?: CarriedConcept[];
}

export class OutputCache {
  private readonly entries = new Map<string, CachedOutput>();

  get(key: string): CachedOutput | undefined {
    return this.entries.get(key);
  }

  set(key: string, value: CachedOutput): void {
    this.entries.set(key, value);
  }

  /** Drops every entry whose key is not in `keep`. */
  retainOnly(keep: Iterable<string>): void {
    const k = new Set(keep);
    for (const key of this.entries.keys()) if (!k.has(key)) this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }
}

function stableJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  const keys = Object.keys(value as object).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${stableJson((value as Record<string, unknown>)[k])}`).join(',')}}`;
}

/** Cache keys of `nodes` (and, through links, their ancestors) in a validated prompt. */
export async function computeSignatures(
  prompt: ApiPrompt,
  nodes: Iterable<string>,
  registry: NodeRegistry,
  env: NodeEnvironment,
  /** The job's hidden values (unique_id is filled in per node). */
  hidden: Omit<HiddenValues, 'uniqueId'> = { prompt, extraPngInfo: {} },
): Promise<Map<string, string>> {
  const nonce = randomUUID();
  const fingerprints = new Map<string, string>();
  const signatures = new Map<string, string>();
  const needed = [...nodes];
  for (const id of needed) {
    const node = prompt[id];
    const def = registry.get(node.class_type);
    let fp = '';
    if (!def || def.notCacheable) fp = `nonce:${nonce}:${id}`;
    else if (def.fingerprint) {
      const literals = keyedRecord(Object.entries(node.inputs).filter(([, v]) => !isLinkValue(v)));
      try {
        fp = `fp:${await def.fingerprint(literals, env, { ...hidden, uniqueId: id })}`;
      } catch {
        fp = `nonce:${nonce}:${id}`; // let execution report the problem
      }
    }
    fingerprints.set(id, fp);
  }
  const signatureOf = (id: string): string => {
    const node = prompt[id];
    const inputs = Object.keys(node.inputs)
      .sort()
      .map((name) => {
        const v = node.inputs[name];
        return isLinkValue(v) ? [name, 'link', signatures.get(String(v[0])), v[1]] : [name, 'value', v];
      });
    return createHash('sha256')
      .update(stableJson([node.class_type, fingerprints.get(id) ?? '', inputs]))
      .digest('hex');
  };
  // Ancestors before descendants with an explicit stack: a signature covers every ancestor's, and
  // a chain of any length must fit.
  const sourcesOf = (id: string) =>
    Object.values(prompt[id].inputs)
      .filter(isLinkValue)
      .map((v) => String(v[0]));
  for (const root of needed) {
    if (signatures.has(root)) continue;
    const onPath = new Set([root]);
    const path = [{ id: root, sources: sourcesOf(root), next: 0 }];
    while (path.length > 0) {
      const frame = path[path.length - 1];
      if (frame.next === frame.sources.length) {
        path.pop();
        onPath.delete(frame.id);
        signatures.set(frame.id, signatureOf(frame.id));
        continue;
      }
      const source = frame.sources[frame.next++];
      if (onPath.has(source)) throw new Error(`dependency cycle through node ${source}`);
      if (signatures.has(source)) continue;
      onPath.add(source);
      path.push({ id: source, sources: sourcesOf(source), next: 0 });
    }
  }
  return signatures;
}
