import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { comfyNoiseSource, prepareNoise, TorchGenerator } from '../../../src/sd/noise/index.js';
import {
  ancestralStep,
  cfgCombine,
  type Denoiser,
  epsDenoiser,
  initialLatent,
  SAMPLER_NAMES,
  SAMPLERS,
  samplerByName,
  scaleModelInput,
} from '../../../src/sd/samplers/index.js';
import { ksamplerSigmas, sd1Schedule } from '../../../src/sd/schedule.js';

const fx = JSON.parse(
  readFileSync(new URL('../../fixtures/scheduler_vectors.json', import.meta.url), 'utf8'),
);

const MU = 0.7;
const S = 0.5;
/** Exact x̂₀ = E[x₀ | x_σ] when every element's data distribution is N(MU, S²). */
const gaussian: Denoiser = async (x, sigma) => {
  const k = (S * S) / (S * S + sigma * sigma);
  return Float32Array.from(x, (v) => MU + k * (v - MU));
};
/** Exact probability-flow ODE solution for that distribution, from σ_a to σ_b. */
const gaussianFlow = (x: number, a: number, b: number) =>
  MU + ((x - MU) * Math.sqrt(S * S + b * b)) / Math.sqrt(S * S + a * a);
const geometric = (n: number, a: number, b: number) =>
  Array.from({ length: n + 1 }, (_, i) => a * (b / a) ** (i / n));
const maxAbs = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

describe('every sampler lands exactly on a single-point data distribution', () => {
  const target = Float32Array.from([0.25, -1.5, 2, 0]);
  const pointMass: Denoiser = async () => Float32Array.from(target);
  it.each(SAMPLER_NAMES)('%s', async (name) => {
    const sigmas = ksamplerSigmas('karras', 12);
    const eps = Float32Array.from([1, -0.5, 0.3, 2]);
    const x = Float32Array.from(eps, (e, i) => target[i] + sigmas[0] * e);
    const seen: number[] = [];
    const out = await SAMPLERS[name].sample(pointMass, x, sigmas, {
      noise: comfyNoiseSource(1),
      onStep: ({ step, total, x: xi, sigma }) => {
        seen.push(step);
        expect(total).toBe(12);
        // deterministic samplers stay on the straight line x* + σ·ε
        if (!SAMPLERS[name].stochastic) {
          expect(
            maxAbs(
              xi,
              Float32Array.from(eps, (e, k) => target[k] + sigma * e),
            ),
          ).toBeLessThan(1e-4);
        }
      },
    });
    expect(seen).toEqual([...Array(12).keys()]);
    expect(maxAbs(out, target)).toBeLessThan(1e-5);
    expect(x[0]).toBe(Math.fround(target[0] + sigmas[0])); // input left untouched
  });
});

describe('convergence order on a Gaussian data distribution (geometric σ from 10 to 0.1)', () => {
  const x = Float32Array.from([3, -10, 14, 0.5]);
  const exact = Array.from(x, (v) => gaussianFlow(v, 10, 0.1));
  const errorAt = async (name: 'euler' | 'dpmpp_2m' | 'heun', n: number) =>
    maxAbs(await SAMPLERS[name].sample(gaussian, x, geometric(n, 10, 0.1)), exact);

  it('Euler is first order: doubling the steps halves the error', async () => {
    const e = [await errorAt('euler', 32), await errorAt('euler', 64), await errorAt('euler', 128)];
    expect(e[0] / e[1]).toBeGreaterThan(1.9);
    expect(e[0] / e[1]).toBeLessThan(2.1);
    expect(e[1] / e[2]).toBeGreaterThan(1.9);
    expect(e[1] / e[2]).toBeLessThan(2.1);
  });
  it('DPM-Solver++(2M) is second order: doubling the steps quarters the error', async () => {
    const e = [await errorAt('dpmpp_2m', 32), await errorAt('dpmpp_2m', 64), await errorAt('dpmpp_2m', 128)];
    expect(e[1] / e[2]).toBeGreaterThan(3.5);
    expect(e[1] / e[2]).toBeLessThan(4.3);
    expect(e[0] / e[1]).toBeGreaterThan(3);
    expect(e[2]).toBeLessThan((await errorAt('euler', 128)) / 50);
  });
  it("Heun's method is second order", async () => {
    const e = [await errorAt('heun', 32), await errorAt('heun', 64), await errorAt('heun', 128)];
    expect(e[0] / e[1]).toBeGreaterThan(3.5);
    expect(e[1] / e[2]).toBeGreaterThan(3.5);
    expect(e[1] / e[2]).toBeLessThan(4.3);
  });
});

describe('sampling N(μ, s²) data from pure noise recovers the distribution', () => {
  const n = 20000;
  const stats = (xs: Float32Array) => {
    let m = 0;
    for (const v of xs) m += v;
    m /= xs.length;
    let v2 = 0;
    for (const v of xs) v2 += (v - m) ** 2;
    return { mean: m, std: Math.sqrt(v2 / xs.length) };
  };
  it.each(['euler_ancestral', 'dpmpp_2s_ancestral'] as const)(
    '%s: mean and spread match, and the spread error shrinks with more steps',
    async (name) => {
      const errs: number[] = [];
      for (const steps of [30, 120]) {
        const sigmas = ksamplerSigmas('karras', steps);
        const z = new TorchGenerator(5).randn(n);
        const xT = Float32Array.from(z, (v) => MU + v * Math.sqrt(S * S + sigmas[0] ** 2));
        const { mean, std } = stats(
          await SAMPLERS[name].sample(gaussian, xT, sigmas, { noise: comfyNoiseSource(3) }),
        );
        expect(Math.abs(mean - MU)).toBeLessThan(0.02);
        errs.push(Math.abs(std - S));
      }
      expect(errs[1]).toBeLessThan(0.03);
      expect(errs[1]).toBeLessThan(errs[0]);
    },
  );
  it('deterministic samplers follow the exact flow map of each sample', async () => {
    const sigmas = ksamplerSigmas('karras', 40);
    const z = new TorchGenerator(6).randn(2000);
    const xT = Float32Array.from(z, (v) => MU + v * Math.sqrt(S * S + sigmas[0] ** 2));
    const exact = Array.from(xT, (v) => gaussianFlow(v, sigmas[0], 0));
    expect(maxAbs(await SAMPLERS.dpmpp_2m.sample(gaussian, xT, sigmas), exact)).toBeLessThan(0.02);
    expect(maxAbs(await SAMPLERS.euler.sample(gaussian, xT, sigmas), exact)).toBeLessThan(0.2);
  });
});

describe('DPM-Solver++(2M) equals the diffusers (VP) formulation of SD1_SPEC §5.5', () => {
  it('20 steps on a nonlinear denoiser, final σ = 0', async () => {
    const model: Denoiser = async (x, sigma) => Float32Array.from(x, (v) => Math.tanh(v / (1 + sigma)) * 0.8);
    const sigmas = Array.from(fx.dpmpp2m_20_sigmas as number[]);
    const x0 = Float32Array.from([1.5, -0.3, 0.9, -2.2]).map((v) => v * sigmas[0]);
    const ours = await SAMPLERS.dpmpp_2m.sample(model, x0, sigmas);
    // independent float64 implementation on the VP sample x_vp = α·x
    const alpha = (s: number) => 1 / Math.sqrt(s * s + 1);
    const lam = (s: number) => -Math.log(s);
    let x = Array.from(x0, (v) => v * alpha(sigmas[0]));
    let prev: number[] | undefined;
    for (let i = 0; i < 20; i++) {
      const [si, sn] = [sigmas[i], sigmas[i + 1]];
      const m = Array.from(
        await model(
          Float32Array.from(x, (v) => v / alpha(si)),
          si,
        ),
      );
      if (sn === 0) {
        x = m;
        break;
      }
      const h = lam(sn) - lam(si);
      const [ai, an] = [alpha(si), alpha(sn)];
      const ratio = (sn * an) / (si * ai);
      const k = an * (Math.exp(-h) - 1);
      if (!prev) x = x.map((v, j) => ratio * v - k * m[j]);
      else {
        const r0 = (lam(si) - lam(sigmas[i - 1])) / h;
        const p = prev;
        x = x.map((v, j) => ratio * v - k * m[j] - 0.5 * k * ((m[j] - p[j]) / r0));
      }
      prev = m;
    }
    expect(maxAbs(ours, x)).toBeLessThan(2e-5);
  });
});

describe('ancestral step sizes', () => {
  it('σ_down² + σ_up² = σ′², σ_up ≤ σ′, η = 0 is deterministic', () => {
    const { down, up } = ancestralStep(5, 3);
    expect(down * down + up * up).toBeCloseTo(9, 4);
    expect(up).toBeLessThanOrEqual(3);
    expect(ancestralStep(5, 3, 0)).toEqual({ down: 3, up: 0 });
    expect(ancestralStep(5, 0)).toEqual({ down: 0, up: 0 });
  });
  it("euler_ancestral needs a noise source and draws ComfyUI's sequence from it", async () => {
    const sigmas = ksamplerSigmas('normal', 4);
    const x = new Float32Array(16);
    await expect(SAMPLERS.euler_ancestral.sample(gaussian, x, sigmas)).rejects.toThrow(/noise source/);
    const a = await SAMPLERS.euler_ancestral.sample(gaussian, x, sigmas, { noise: comfyNoiseSource(9) });
    const b = await SAMPLERS.euler_ancestral.sample(gaussian, x, sigmas, { noise: comfyNoiseSource(9) });
    const c = await SAMPLERS.euler_ancestral.sample(gaussian, x, sigmas, { noise: comfyNoiseSource(10) });
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
  });
});

describe('ComfyUI names', () => {
  it('ddim is the Euler update (Addendum D.7)', async () => {
    const sigmas = ksamplerSigmas('normal', 6);
    const x = prepareNoise(1, [1, 4, 2, 2]).map((v) => v * sigmas[0]);
    expect(await SAMPLERS.ddim.sample(gaussian, x, sigmas)).toEqual(
      await SAMPLERS.euler.sample(gaussian, x, sigmas),
    );
  });
  it('unknown sampler names are refused with the list of known ones', () => {
    expect(() => samplerByName('heunpp')).toThrow(/unknown sampler "heunpp".*euler/);
    expect(samplerByName('dpmpp_2m').stochastic).toBe(false);
  });
});

describe('interruption and bad models', () => {
  it('an aborted signal stops sampling before the next model call', async () => {
    const ctl = new AbortController();
    let calls = 0;
    const model: Denoiser = async (x, s) => {
      calls++;
      return gaussian(x, s);
    };
    const run = SAMPLERS.euler.sample(model, new Float32Array(4), ksamplerSigmas('normal', 10), {
      signal: ctl.signal,
      onStep: ({ step }) => {
        if (step === 2) ctl.abort(new Error('interrupted by user'));
      },
    });
    await expect(run).rejects.toThrow('interrupted by user');
    expect(calls).toBe(3);
  });
  it('a denoiser returning the wrong length is reported', async () => {
    const bad: Denoiser = async () => new Float32Array(3);
    await expect(SAMPLERS.dpmpp_2m.sample(bad, new Float32Array(4), [2, 1, 0])).rejects.toThrow(/3 values/);
  });
  it('negative or non-finite sigmas are refused', async () => {
    await expect(SAMPLERS.euler.sample(gaussian, new Float32Array(4), [1, Number.NaN, 0])).rejects.toThrow(
      RangeError,
    );
  });
});

describe('SD1 model plumbing (SD1_SPEC §5.2, Addendum D.4–D.6)', () => {
  const schedule = sd1Schedule();
  it('txt2img starts from noise·√(1 + σ₀²) = 14.648813·noise', () => {
    const sigmas = ksamplerSigmas('normal', 20);
    const noise = prepareNoise(0, [1, 4, 2, 2]);
    const x = initialLatent(noise, sigmas, schedule);
    for (let i = 0; i < x.length; i++) {
      expect(x[i] / noise[i]).toBeCloseTo(fx.comfy_initial_noise_scale_txt2img, 5);
    }
  });
  it('img2img (denoise < 1) starts from latent + noise·σ₀', () => {
    const sigmas = ksamplerSigmas('normal', 10, 0.6);
    expect(sigmas[0]).toBeLessThan(schedule.sigmaMax / 2);
    const noise = prepareNoise(0, [1, 4, 2, 2]);
    const latent = Float32Array.from({ length: 16 }, (_, i) => i / 10);
    const x = initialLatent(noise, sigmas, schedule, latent);
    for (let i = 0; i < 16; i++)
      expect(x[i]).toBe(Math.fround(Math.fround(noise[i] * sigmas[0]) + latent[i]));
  });
  it('the UNet sees x/√(σ²+1) and integral timesteps; cfg combines x̂₀ halves as u + (c − u)·cfg', async () => {
    const calls: { t: number; copies: number; input: Float32Array }[] = [];
    // ε̂ differs per half so the guidance is visible: uncond ε = 0.1·in, cond ε = 0.1·in + 0.05
    const unet = async (input: Float32Array, t: number, copies: 1 | 2) => {
      calls.push({ t, copies, input: Float32Array.from(input) });
      const n = input.length / copies;
      return Float32Array.from(input, (v, i) => 0.1 * v + (copies === 2 && i < n ? 0 : 0.05));
    };
    const cfg = 7.5;
    const denoiser = epsDenoiser(unet, schedule, cfg);
    const sigmas = ksamplerSigmas('normal', 20);
    const x = Float32Array.from([1, -2, 3, 0.5]);
    const d = await denoiser(x, sigmas[3]);
    const s = sigmas[3];
    const cin = 1 / Math.sqrt(s * s + 1);
    expect(calls[0].copies).toBe(2);
    expect(
      maxAbs(
        calls[0].input,
        [...x, ...x].map((v) => v * cin),
      ),
    ).toBeLessThan(1e-6);
    expect(calls[0].t).toBe(fx.comfy_unet_timesteps_normal_20[3]);
    const u = Array.from(x, (v) => v - s * 0.1 * v * cin);
    const c = Array.from(x, (v) => v - s * (0.1 * v * cin + 0.05));
    expect(
      maxAbs(
        d,
        u.map((uv, i) => uv + (c[i] - uv) * cfg),
      ),
    ).toBeLessThan(1e-5);

    // a whole run passes ComfyUI's integral timesteps 999, 946, 894, …
    calls.length = 0;
    await SAMPLERS.euler.sample(epsDenoiser(unet, schedule, 1), x, sigmas);
    expect(calls.map((c) => c.t)).toEqual(fx.comfy_unet_timesteps_normal_20);
    expect(calls.every((c) => c.copies === 1)).toBe(true); // cfg = 1 skips the uncond pass
  });
  it('cfgCombine and scaleModelInput are the plain formulas', () => {
    expect(Array.from(cfgCombine(Float32Array.of(1, 2), Float32Array.of(3, 1), 2))).toEqual([5, 0]);
    expect(scaleModelInput(Float32Array.of(2), Math.sqrt(3))[0]).toBeCloseTo(1, 6);
  });
});
