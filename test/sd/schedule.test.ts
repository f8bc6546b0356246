import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  betaPpf,
  diffusersDdimTimesteps,
  diffusersDpmSolverSchedule,
  diffusersEulerSchedule,
  diffusersTables,
  incompleteBeta,
  ksamplerSigmas,
  SCHEDULER_NAMES,
  sd1Schedule,
  torchLinspace,
} from '../../src/sd/schedule.js';

const fx = JSON.parse(readFileSync(new URL('../fixtures/scheduler_vectors.json', import.meta.url), 'utf8'));

function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < b.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    m = Math.max(m, b[i] === 0 ? d : d / Math.abs(b[i]));
  }
  return m;
}

describe('SD1 schedule tables (SD1_SPEC §5.1, Addendum D.2)', () => {
  it("ComfyUI's float64-derived table has σ_min 0.029167159 and σ_max 14.614641 exactly", () => {
    const s = sd1Schedule();
    expect([s.sigmaMin, s.sigmaMax]).toEqual(fx.comfy_sigma_min_max);
    expect(s.alphasCumprod[0]).toBeCloseTo(0.99915, 12);
    expect(s.alphasCumprod[999]).toBeCloseTo(0.0046600985, 9);
  });
  it("diffusers' float32 tables (assets) match the fixture ends and stay within 1.3e-5 of ComfyUI's σ", () => {
    const t = diffusersTables();
    expect([t.betas[0], t.betas[999]]).toEqual(fx.betas_first_last);
    expect([t.alphasCumprod[0], t.alphasCumprod[999]]).toEqual(fx.alphas_cumprod_first_last);
    expect([t.sigmas[0], t.sigmas[999]]).toEqual(fx.sigma_min_max);
    const rel = maxRelDiff(sd1Schedule().sigmas, t.sigmas);
    expect(rel).toBeGreaterThan(1e-6); // fp32 cumprod vs fp64: really different tables …
    expect(rel).toBeLessThan(1.4e-5); // … by at most what the spec measured
  });
  it('torch linspace is exact at both ends and symmetric', () => {
    const l = torchLinspace(999, 0, 20);
    expect(l[0]).toBe(999);
    expect(l[19]).toBe(0);
    expect(torchLinspace(0, 1, 1)).toEqual([0]);
  });
});

describe('timestep ↔ σ (Addendum D.5)', () => {
  const s = sd1Schedule();
  it('every table σ maps back to its own integral timestep', () => {
    for (let t = 0; t < 1000; t++) expect(s.sigmaToTimestep(s.timestepToSigma(t))).toBe(t);
  });
  it('σ between two table entries maps to the nearer one in log space', () => {
    const mid = Math.sqrt(s.sigmas[500] * s.sigmas[501]);
    expect([499, 500, 501]).toContain(s.sigmaToTimestep(mid * 0.9999));
    expect(s.sigmaToTimestep(s.sigmas[500] * 1.0001)).toBe(500);
    expect(s.sigmaToTimestep(100)).toBe(999);
    expect(s.sigmaToTimestep(0.001)).toBe(0);
  });
  it('fractional timesteps interpolate log σ linearly', () => {
    const t = 946.5;
    const want = Math.exp(0.5 * s.logSigmas[946] + 0.5 * s.logSigmas[947]);
    expect(Math.abs(s.timestepToSigma(t) - want) / want).toBeLessThan(3e-7);
  });
});

describe('ComfyUI schedulers against the reference vectors (tolerance 1e-6 relative, Addendum D.3)', () => {
  it('normal, 20 steps', () => {
    expect(maxRelDiff(ksamplerSigmas('normal', 20), fx.comfy_normal_20)).toBeLessThan(1e-6);
  });
  it('karras, 20 steps', () => {
    expect(maxRelDiff(ksamplerSigmas('karras', 20), fx.comfy_karras_20)).toBeLessThan(1e-6);
  });
  it('normal-20 UNet timesteps are the integers 999, 946, 894, …, 53, 0', () => {
    const s = sd1Schedule();
    const ts = Array.from(ksamplerSigmas('normal', 20).slice(0, 20), (x) => s.sigmaToTimestep(x));
    expect(ts).toEqual(fx.comfy_unet_timesteps_normal_20);
  });
  it.each(SCHEDULER_NAMES)('%s gives steps + 1 descending sigmas ending in 0', (name) => {
    for (const steps of [1, 4, 25]) {
      const sig = ksamplerSigmas(name, steps);
      // beta drops repeated table indices, so it may come out shorter
      if (name === 'beta') expect(sig.length).toBeLessThanOrEqual(steps + 1);
      else expect(sig.length).toBe(steps + 1);
      const last = sig.length - 1;
      expect(sig[last]).toBe(0);
      for (let i = 0; i < last; i++) expect(sig[i]).toBeGreaterThan(sig[i + 1]);
      expect(sig[0]).toBeLessThanOrEqual(sd1Schedule().sigmaMax * (1 + 1e-6));
    }
  });
  it('beta(0.6, 0.6) places table timesteps symmetrically, denser at both ends', () => {
    const s = sd1Schedule();
    const ts = Array.from(ksamplerSigmas('beta', 20).slice(0, -1), (x) => s.sigmaToTimestep(x));
    expect(ts.length).toBe(20);
    expect(ts[0]).toBe(999);
    expect(ts[10]).toBe(500); // ppf(0.5) = 0.5 → 499.5 rounds half to even
    for (let i = 1; i < 10; i++) expect(ts[i] + ts[20 - i]).toBe(999);
    expect(ts[0] - ts[1]).toBeLessThan(ts[9] - ts[10]);
  });
  it('the Beta quantile inverts the regularized incomplete beta', () => {
    expect(incompleteBeta(0.3, 2, 3)).toBeCloseTo(0.3483, 12); // closed form for integer a, b
    for (const p of [0.01, 0.3, 0.77])
      expect(incompleteBeta(betaPpf(p, 0.6, 0.6), 0.6, 0.6)).toBeCloseTo(p, 12);
  });
  it('unknown scheduler names and bad step counts are refused clearly', () => {
    expect(() => ksamplerSigmas('nope' as 'normal', 10)).toThrow(/unknown scheduler "nope"/);
    expect(() => ksamplerSigmas('normal', 0)).toThrow(/steps/);
  });
});

describe('denoise < 1 takes the tail of a longer schedule (KSampler.set_steps)', () => {
  it('steps 10 at denoise 0.5 = last 11 sigmas of the 20-step schedule', () => {
    const full = ksamplerSigmas('normal', 20);
    expect(ksamplerSigmas('normal', 10, 0.5)).toEqual(full.slice(10));
  });
  it('the step count is ⌊steps/denoise⌋ (steps 10, denoise 0.3 → 33-step schedule)', () => {
    expect(ksamplerSigmas('karras', 10, 0.3)).toEqual(ksamplerSigmas('karras', 33).slice(-11));
  });
  it('denoise ≥ 0.9999 is a full schedule and denoise ≤ 0 an empty one', () => {
    expect(ksamplerSigmas('normal', 8, 0.99995)).toEqual(ksamplerSigmas('normal', 8));
    expect(ksamplerSigmas('normal', 8, 0).length).toBe(0);
  });
});

describe("diffusers' timestep spacings (SD1_SPEC §5.3–5.5) equal the reference vectors exactly", () => {
  it.each([10, 20, 50])('n = %i', (n) => {
    expect(diffusersDdimTimesteps(n)).toEqual(fx[`ddim_${n}_timesteps`]);
    const euler = diffusersEulerSchedule(n);
    expect(Array.from(euler.timesteps)).toEqual(fx[`euler_${n}_timesteps`]);
    expect(Array.from(euler.sigmas)).toEqual(fx[`euler_${n}_sigmas`]);
    const dpm = diffusersDpmSolverSchedule(n);
    expect(Array.from(dpm.timesteps)).toEqual(fx[`dpmpp2m_${n}_timesteps`]);
    expect(Array.from(dpm.sigmas)).toEqual(fx[`dpmpp2m_${n}_sigmas`]);
  });
});
