/**
 * The recipe of a node in an API prompt: a hash of its class, its literal inputs and, through its links,
 * the recipes of every node it depends on (with the output slot). Node ids and `_meta` are not part of
 * it, and nothing is read from disk, so the same sub-graph has the same recipe on any machine, also
 * when the files it names are missing there. A carried result (embed.ts) is matched by it when the
 * node's own inputs (the subject photos) cannot be read to compute the content key.
 */
import { createHash } from 'node:crypto';
import { canonicalJson } from './checksum.js';

type PromptNode = { class_type?: unknown; inputs?: Record<string, unknown> };

const isLink = (v: unknown): v is [string | number, number] =>
  Array.isArray(v) && v.length === 2 && (typeof v[0] === 'string' || typeof v[0] === 'number');

/**
 * Literal inputs that mean the same as leaving the input out, by class: `{ ConesExtractConcept: { rounds: 1 } }`.
 * An input added to a node after its results were first carried goes here with its default, so prompts
 * made before it existed and prompts that now send the default have one recipe.
 */
export type SameAsAbsent = Readonly<Record<string, Readonly<Record<string, unknown>>>>;

/** Recipe of node `id` of `prompt` (hex); a link into a missing node or back onto its path is hashed as such. */
export function nodeRecipe(
  prompt: Record<string, unknown>,
  id: string,
  sameAsAbsent: SameAsAbsent = {},
): string {
  const recipes = new Map<string, string>();
  const nodeOf = (nid: string): PromptNode | undefined => {
    const n = Object.hasOwn(prompt, nid) ? prompt[nid] : undefined;
    return n && typeof n === 'object' ? (n as PromptNode) : undefined;
  };
  const sourcesOf = (nid: string): string[] =>
    Object.values(nodeOf(nid)?.inputs ?? {})
      .filter(isLink)
      .map((v) => String(v[0]));
  const recipeOf = (nid: string, onPath: Set<string>): string => {
    const node = nodeOf(nid);
    if (!node) return 'missing';
    const inputs = node.inputs ?? {};
    const absent = typeof node.class_type === 'string' ? sameAsAbsent[node.class_type] : undefined;
    const parts = Object.keys(inputs)
      .filter((name) => !(absent && Object.hasOwn(absent, name) && absent[name] === inputs[name]))
      .sort()
      .map((name) => {
        const v = inputs[name];
        if (!isLink(v)) return [name, 'value', v];
        const source = String(v[0]);
        return [name, 'link', onPath.has(source) ? 'cycle' : (recipes.get(source) ?? 'missing'), v[1]];
      });
    return createHash('sha256')
      .update(canonicalJson([node.class_type, parts]))
      .digest('hex');
  };
  // Ancestors first, with an explicit stack (a chain of any length fits).
  const onPath = new Set([id]);
  const path = [{ id, sources: sourcesOf(id), next: 0 }];
  while (path.length > 0) {
    const frame = path[path.length - 1];
    if (frame.next === frame.sources.length) {
      path.pop();
      onPath.delete(frame.id);
      recipes.set(frame.id, recipeOf(frame.id, onPath));
      continue;
    }
    const source = frame.sources[frame.next++];
    if (onPath.has(source) || recipes.has(source) || !nodeOf(source)) continue;
    onPath.add(source);
    path.push({ id: source, sources: sourcesOf(source), next: 0 });
  }
  return recipes.get(id) as string;
}
