/**
 * A Load Concept whose file the workflow carries by value (`extra.cones_concepts`) gets that name among its
 * `concept_name` choices. A server without the file does not list it, and current front ends then mark the
 * node "missing a required model file" although the run uses the carried concept.
 */
import type { ComfyApp, ComfyNode } from './comfy.js';
import { WORKFLOW_CONCEPTS_KEY } from './cones-classes.js';

type ComboValues = unknown[] | ((widget: unknown) => unknown[]);

function carriedNames(app: ComfyApp): string[] {
  const graph = (app as { rootGraph?: unknown }).rootGraph ?? app.graph;
  const carried = (graph as { extra?: Record<string, unknown> } | undefined)?.extra?.[WORKFLOW_CONCEPTS_KEY];
  return carried && typeof carried === 'object' && !Array.isArray(carried) ? Object.keys(carried) : [];
}

/** Call once the node's widget values are loaded (the `loadedGraphNode` hook). */
export function offerCarriedConcept(node: ComfyNode, app: ComfyApp): void {
  const widget = node.widgets?.find((w) => w.name === 'concept_name');
  const name = widget?.value;
  if (!widget || typeof name !== 'string' || !carriedNames(app).includes(name)) return;
  const options = (widget.options ?? {}) as { values?: ComboValues };
  const values = options.values;
  if (typeof values === 'function') {
    options.values = (w: unknown) => {
      const listed = values(w);
      return listed.includes(name) ? listed : [...listed, name];
    };
  } else if (!values?.includes(name)) {
    // A new array: the old one may be the node definition's list, shared by every Load Concept.
    options.values = [...(values ?? []), name];
  }
  widget.options = options as typeof widget.options;
}
