/**
 * Extract Concept trains from scratch for every new seed, so its seed stays *fixed* after a run by
 * default (the front ends' default, randomize, would silently re-extract on the next Queue). Runs when
 * the node is made, before a saved workflow's values are applied: a saved choice still wins.
 */
import type { ComfyNode } from './comfy.js';

const CONTROL_WIDGET = 'control_after_generate';

export function fixSeedAfterGenerate(node: ComfyNode): void {
  const control = node.widgets?.find((w) => w.name === CONTROL_WIDGET);
  if (control) control.value = 'fixed';
}
