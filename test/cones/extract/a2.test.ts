import { describe, expect, it } from 'vitest';
import { conceptScores, runA2 } from '../../../src/cones/extract/a2.js';

/**
 * A2 with the paper's learning rate on gradients of realistic size: each step moves ξ by ρ·g = 2e-9,
 * far below float32's resolution around 1 (≈ 6e-8). The loss here is a real function of ξ,
 * L(ξ) = Σ cᵢ·ξᵢ, whose gradient is the constant c.
 */
describe('Algorithm A2 precision', () => {
  it('keeps every update of size ρ·∂L/∂ξ ≪ float32 ulp(1), so M_p = Σ∂L/∂ξ over the steps', async () => {
    const key = 'w';
    const size = 8;
    const c = Float64Array.from({ length: size }, (_, i) => (i % 2 === 0 ? 1e-4 : -3e-4) * (1 + i / 10));
    const steps = 10;
    const rho = 2e-5;
    const fed: number[] = [];
    const state = await runA2({
      keys: [key],
      sizes: new Map([[key, size]]),
      steps,
      learningRate: rho,
      lossAndGrads: async (_step, xi) => {
        const x = xi.get(key)!;
        fed.push(x[0]);
        let loss = 0;
        for (let i = 0; i < size; i++) loss += c[i] * x[i];
        return { loss, grads: new Map([[key, c]]) };
      },
    });
    const scores = conceptScores(state.xi, rho).get(key)!;
    for (let i = 0; i < size; i++) {
      // Linear loss: M_p = (1 − ξ_K)/ρ = K·c exactly in real arithmetic.
      expect(Math.abs(scores[i] - steps * c[i]) / Math.abs(steps * c[i])).toBeLessThan(1e-6);
    }
    // The graph is fed float32 ξ: the forward point is rounded, the accumulated ξ is not.
    expect(fed.every((v) => v === Math.fround(v))).toBe(true);
  });

  it('moves ξ only at the free indices when refinement restricts it', async () => {
    const key = 'w';
    const state = await runA2({
      keys: [key],
      sizes: new Map([[key, 4]]),
      steps: 3,
      learningRate: 2e-5,
      free: new Map([[key, Uint32Array.of(1, 3)]]),
      lossAndGrads: async () => ({ loss: 0, grads: new Map([[key, [1e-4, 1e-4, 1e-4, 1e-4]]]) }),
    });
    const xi = state.xi.get(key)!;
    expect([xi[0], xi[2]]).toEqual([1, 1]);
    expect(xi[1]).toBeLessThan(1);
    expect(xi[3]).toBeLessThan(1);
  });
});
