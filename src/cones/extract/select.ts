/** Concept neurons from M_p: `M_p > τ`, or the top fraction of the scope among positive M_p. */
import { indicesAboveThreshold, topFractionIndices } from '../concept.js';

export type NeuronSelection =
  | { selection: 'threshold'; threshold: number }
  | { selection: 'top_fraction'; topFraction: number };

export function selectNeurons(
  scores: ReadonlyMap<string, Float32Array>,
  rule: NeuronSelection,
): Map<string, Uint32Array> {
  if (rule.selection === 'threshold') {
    const out = new Map<string, Uint32Array>();
    for (const [key, s] of scores) out.set(key, indicesAboveThreshold(s, rule.threshold));
    return out;
  }
  // Only neurons whose shutting lowers the loss (M_p > 0) qualify; NaN is never selected.
  const positive = new Map<string, Float32Array>();
  for (const [key, s] of scores) {
    const p = new Float32Array(s.length);
    for (let i = 0; i < s.length; i++) p[i] = s[i] > 0 ? s[i] : Number.NaN;
    positive.set(key, p);
  }
  return topFractionIndices(positive, rule.topFraction);
}
