/**
 * AdamW over Float32Arrays (PyTorch's `torch.optim.AdamW` arithmetic), gradient clipping by global
 * norm, and the learning-rate schedule. All state is Float32Array so a saved state resumes bit for
 * bit; the per-element arithmetic runs in float64 and is rounded once per stored value.
 */

export interface AdamWSettings {
  beta1: number;
  beta2: number;
  eps: number;
  /** Decoupled weight decay λ: p ← p·(1 − lr·λ) before the Adam step (only on tensors `decays` selects). */
  weightDecay: number;
}

export const ADAMW_DEFAULTS: AdamWSettings = Object.freeze({
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  weightDecay: 0.01,
});

/** One trainable tensor's optimizer state. */
export interface AdamWSlot {
  m: Float32Array;
  v: Float32Array;
}

/**
 * One AdamW step on `param` in place. `t` is the 1-based step number (bias correction);
 * `gradScale` multiplies the gradient first (global-norm clipping).
 */
export function adamwUpdate(
  param: Float32Array,
  grad: ArrayLike<number>,
  slot: AdamWSlot,
  lr: number,
  t: number,
  settings: AdamWSettings,
  decay: boolean,
  gradScale = 1,
): void {
  const { beta1, beta2, eps } = settings;
  const shrink = decay ? 1 - lr * settings.weightDecay : 1;
  const stepSize = lr / (1 - beta1 ** t);
  const sqrtBias2 = Math.sqrt(1 - beta2 ** t);
  const { m, v } = slot;
  for (let i = 0; i < param.length; i++) {
    const g = grad[i] * gradScale;
    m[i] = beta1 * m[i] + (1 - beta1) * g;
    v[i] = beta2 * v[i] + (1 - beta2) * g * g;
    param[i] = param[i] * shrink - (stepSize * m[i]) / (Math.sqrt(v[i]) / sqrtBias2 + eps);
  }
}

/** √(Σ g²) over every gradient, accumulated in float64. */
export function globalNorm(grads: Iterable<ArrayLike<number>>): number {
  let sum = 0;
  for (const g of grads) for (let i = 0; i < g.length; i++) sum += g[i] * g[i];
  return Math.sqrt(sum);
}

/** The factor that brings a gradient of norm `norm` down to `maxNorm` (1 when already below; torch's clip_grad_norm_). */
export function clipScale(norm: number, maxNorm: number): number {
  if (!(maxNorm > 0)) return 1;
  return Math.min(1, maxNorm / (norm + 1e-6));
}

export interface LrSchedule {
  /** Peak learning rate. */
  lr: number;
  /** Steps of linear warm-up from lr/warmup to lr. */
  warmupSteps: number;
  /** After warm-up: cosine decay to `minLr` at `totalSteps`, or constant. */
  decay: 'cosine' | 'constant';
  totalSteps: number;
  minLr?: number;
}

/** Learning rate of the 0-based step `step`. */
export function learningRate(s: LrSchedule, step: number): number {
  if (step < s.warmupSteps) return (s.lr * (step + 1)) / s.warmupSteps;
  if (s.decay === 'constant') return s.lr;
  const span = Math.max(1, s.totalSteps - s.warmupSteps);
  const progress = Math.min(1, (step - s.warmupSteps) / span);
  const min = s.minLr ?? 0;
  return min + (s.lr - min) * 0.5 * (1 + Math.cos(Math.PI * progress));
}

/**
 * EMA decay at the 0-based step `step`: `decay`, ramped in as min(decay, (1 + step)/(10 + step)) so
 * the average is not dominated by the random initialisation early on.
 */
export function emaDecay(decay: number, step: number): number {
  return Math.min(decay, (1 + step) / (10 + step));
}

/** ema ← d·ema + (1 − d)·param, in place. */
export function emaUpdate(ema: Float32Array, param: Float32Array, d: number): void {
  for (let i = 0; i < ema.length; i++) ema[i] = d * ema[i] + (1 - d) * param[i];
}
