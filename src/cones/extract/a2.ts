/**
 * Algorithm A2 of the paper (appendix): ξ = 1 over the scope, K steps of ξ ← ξ − ρ·∂L/∂ξ, then
 * M_p = (1 − ξ)/ρ. The loss is supplied by the caller (one training-graph call per step), so the same
 * loop serves single-concept extraction and merge refinement, where ξ is free only inside the union.
 *
 * ξ is kept in float64. With the paper's ρ = 2e-5 a step moves ξ by ρ·∂L/∂ξ, typically 1e-9..1e-7, while
 * float32 resolves only ~6e-8 around 1: a float32 ξ would silently drop most updates and M_p would be 0
 * for most neurons. The graph is fed a float32 copy of ξ each step (rounding the forward point only).
 */
import { InterruptedError } from '../../shared/interrupted.js';

export interface A2State {
  /** Steps done (the next step to run). */
  step: number;
  xi: Map<string, Float64Array>;
  /** Loss of every step done so far. */
  losses: number[];
}

export interface A2Options {
  keys: readonly string[];
  /** Element count per key. */
  sizes: ReadonlyMap<string, number>;
  steps: number;
  learningRate: number;
  /** Where ξ may move (refinement): flat indices per key; keys absent stay at 1. Undefined: everywhere. */
  free?: ReadonlyMap<string, Uint32Array>;
  /** Flat indices per key where ξ stays at its initial value (neurons already shut by an earlier round). */
  fixed?: ReadonlyMap<string, Uint32Array>;
  /** Loss and ∂L/∂ξ of step `step` at the current ξ. */
  lossAndGrads(
    step: number,
    xi: ReadonlyMap<string, Float32Array>,
  ): Promise<{ loss: number; grads: Map<string, ArrayLike<number>> }>;
  /** Resume from here instead of ξ = 1. */
  initial?: A2State;
  /** Save the state every this many steps (and when interrupted). */
  checkpointEvery?: number;
  save?(state: A2State): Promise<void>;
  onStep?(state: A2State, loss: number): void;
  /** True once the caller asked to stop; checked between steps. */
  aborted?(): boolean;
}

export function initialState(keys: readonly string[], sizes: ReadonlyMap<string, number>): A2State {
  const xi = new Map<string, Float64Array>();
  for (const key of keys) xi.set(key, new Float64Array(sizes.get(key)!).fill(1));
  return { step: 0, xi, losses: [] };
}

export async function runA2(o: A2Options): Promise<A2State> {
  const state = o.initial ?? initialState(o.keys, o.sizes);
  const rho = o.learningRate;
  const feed = new Map<string, Float32Array>();
  for (const key of o.keys) feed.set(key, new Float32Array(o.sizes.get(key)!));
  while (state.step < o.steps) {
    if (o.aborted?.()) {
      await o.save?.(state);
      throw new InterruptedError();
    }
    for (const key of o.keys) feed.get(key)!.set(state.xi.get(key)!);
    const { loss, grads } = await o.lossAndGrads(state.step, feed);
    if (!Number.isFinite(loss))
      throw new Error(`loss became ${loss} at step ${state.step + 1}; lower the learning rate`);
    for (const key of o.keys) {
      const xi = state.xi.get(key)!;
      const g = grads.get(key);
      if (!g) throw new Error(`training graph returned no gradient for '${key}'`);
      const fixed = o.fixed?.get(key);
      const held = fixed ? Float64Array.from(fixed, (i) => xi[i]) : undefined;
      if (o.free) {
        const idx = o.free.get(key);
        if (idx) for (let j = 0; j < idx.length; j++) xi[idx[j]] -= rho * g[idx[j]];
      } else {
        for (let i = 0; i < xi.length; i++) xi[i] -= rho * g[i];
      }
      if (fixed && held) for (let j = 0; j < fixed.length; j++) xi[fixed[j]] = held[j];
    }
    state.step++;
    state.losses.push(loss);
    o.onStep?.(state, loss);
    if (o.save && o.checkpointEvery && state.step % o.checkpointEvery === 0 && state.step < o.steps)
      await o.save(state);
  }
  return state;
}

/** M_p = (1 − ξ)/ρ per key, computed from the float64 ξ and stored as float32. */
export function conceptScores(
  xi: ReadonlyMap<string, Float64Array>,
  learningRate: number,
): Map<string, Float32Array> {
  const scores = new Map<string, Float32Array>();
  for (const [key, x] of xi) {
    const s = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++) s[i] = (1 - x[i]) / learningRate;
    scores.set(key, s);
  }
  return scores;
}
