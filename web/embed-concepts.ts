/**
 * "Embed concepts in workflow" / "Strip concepts from workflow": puts the files every Load Concept node
 * names into the workflow by value (`graph.extra.cones_concepts`, the format of src/cones/embed.ts),
 * so an exported workflow runs on a server that lacks them, or takes them out again.
 */

import type { ComfyApi, ComfyApp, ComfyNode } from './comfy.js';
import { CONCEPT_ROUTE, LOAD_CONCEPT, WORKFLOW_CONCEPTS_KEY } from './cones-classes.js';

interface EmbeddedConcept {
  sha256: string;
  data: string;
}

function base64(bytes: Uint8Array): string {
  let text = '';
  const chunk = 0x8000;
  for (let i = 0; i < bytes.length; i += chunk) text += String.fromCharCode(...bytes.subarray(i, i + chunk));
  return btoa(text);
}

async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', bytes);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

function graphNodes(app: ComfyApp): ComfyNode[] {
  const graph = app.graph as unknown as { _nodes?: ComfyNode[]; nodes?: ComfyNode[] };
  return graph.nodes ?? graph._nodes ?? [];
}

function graphExtra(app: ComfyApp): Record<string, unknown> {
  const graph = app.graph as unknown as { extra?: Record<string, unknown> };
  graph.extra ??= {};
  return graph.extra;
}

/** The concept names of the graph's Load Concept nodes. */
export function conceptNames(app: ComfyApp): string[] {
  const names = new Set<string>();
  for (const node of graphNodes(app)) {
    if ((node as { comfyClass?: string }).comfyClass !== LOAD_CONCEPT && node.type !== LOAD_CONCEPT) continue;
    const value = node.widgets?.find((w) => w.name === 'concept_name')?.value;
    if (typeof value === 'string' && value) names.add(value);
  }
  return [...names].sort();
}

async function fetchConcept(api: ComfyApi, name: string): Promise<EmbeddedConcept> {
  const res = await api.fetchApi(`${CONCEPT_ROUTE}?name=${encodeURIComponent(name)}`);
  if (!res.ok) throw new Error(`${name}: ${res.status} ${await res.text().catch(() => '')}`.trim());
  const bytes = new Uint8Array(await res.arrayBuffer());
  const sha256 = res.headers.get('X-Cones-Sha256') ?? (await sha256Hex(bytes));
  return { sha256, data: base64(bytes) };
}

/** Embeds every named concept; returns the names embedded and the failures (name: reason). */
export async function embedConcepts(
  app: ComfyApp,
  api: ComfyApi,
): Promise<{ embedded: string[]; failed: string[] }> {
  const embedded: string[] = [];
  const failed: string[] = [];
  const extra = graphExtra(app);
  const current = extra[WORKFLOW_CONCEPTS_KEY];
  const map: Record<string, unknown> =
    current && typeof current === 'object' && !Array.isArray(current) ? { ...current } : {};
  for (const name of conceptNames(app)) {
    try {
      map[name] = await fetchConcept(api, name);
      embedded.push(name);
    } catch (error) {
      failed.push(String((error as Error).message ?? error));
    }
  }
  if (embedded.length > 0) extra[WORKFLOW_CONCEPTS_KEY] = map;
  app.graph.setDirtyCanvas?.(true, true);
  return { embedded, failed };
}

/** Removes every embedded concept; returns how many there were. */
export function stripConcepts(app: ComfyApp): number {
  const extra = graphExtra(app);
  const current = extra[WORKFLOW_CONCEPTS_KEY];
  const count = current && typeof current === 'object' ? Object.keys(current).length : 0;
  delete extra[WORKFLOW_CONCEPTS_KEY];
  return count;
}
