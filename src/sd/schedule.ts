/**
 * SD1 noise schedule and ComfyUI's sigma schedulers (SD1_SPEC §5.1, §5.4, Addendum D.2–D.5).
 *
 * SD1 is "scaled_linear" (diffusers) = "linear" (LDM / ComfyUI): β = linspace(√0.00085, √0.012,
 * 1000)², ᾱ = cumprod(1 − β), σ = √((1 − ᾱ)/ᾱ). ComfyUI computes in float64 and keeps float32
 * σ and log σ tables; sampling runs on σ (k-diffusion "VE" form) and the UNet gets the index of
 * the nearest log σ as an integral timestep.
 */
import { readFileSync } from 'node:fs';
import { assetPath } from '../shared/assets.js';

const fr = Math.fround;
export const TRAIN_TIMESTEPS = 1000;
const BETA_START = 0.00085;
const BETA_END = 0.012;

/**
 * torch's CPU `linspace`, scalar form: the first half counts up from `start`, the second half down
 * from `end`, so both ends are exact. `f` rounds each operation to the tensor dtype. (Where a run
 * spans two SIMD widths — 16+ elements with AVX2 — torch fills 8-lane blocks as base + k·step, which
 * moves some elements by one ulp; that dispatch-dependent detail is not reproduced.)
 */
export function torchLinspace(
  start: number,
  end: number,
  n: number,
  f: (x: number) => number = fr,
): number[] {
  if (n === 1) return [f(start)];
  const s = f(start);
  const e = f(end);
  const step = f(f(e - s) / (n - 1));
  const half = Math.floor(n / 2);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) out[i] = i < half ? f(s + f(step * i)) : f(e - f(step * (n - 1 - i)));
  return out;
}

const identity = (x: number) => x;

/** ComfyUI's SD1 model sampling: float32 σ and log σ tables derived in float64. */
export class DiscreteSchedule {
  /** σ per training timestep 0…999, float32 values */
  readonly sigmas: Float32Array;
  /** log σ per timestep, computed in float64 then rounded to float32 */
  readonly logSigmas: Float32Array;
  /** ᾱ per timestep (float64) */
  readonly alphasCumprod: Float64Array;

  constructor(betas: ArrayLike<number>) {
    const n = betas.length;
    this.alphasCumprod = new Float64Array(n);
    this.sigmas = new Float32Array(n);
    this.logSigmas = new Float32Array(n);
    let acc = 1;
    for (let i = 0; i < n; i++) {
      acc *= 1 - betas[i];
      this.alphasCumprod[i] = acc;
      const sigma = Math.sqrt((1 - acc) / acc);
      this.sigmas[i] = sigma;
      this.logSigmas[i] = Math.log(sigma);
    }
  }

  get sigmaMin(): number {
    return this.sigmas[0];
  }

  get sigmaMax(): number {
    return this.sigmas[this.sigmas.length - 1];
  }

  /**
   * σ → UNet timestep: the index of the nearest log σ (first on ties), as ComfyUI's
   * `ModelSamplingDiscrete.timestep`. Always an integer.
   */
  sigmaToTimestep(sigma: number): number {
    const ls = fr(Math.log(fr(sigma)));
    const table = this.logSigmas;
    let best = 0;
    let bestDist = Number.POSITIVE_INFINITY;
    for (let i = 0; i < table.length; i++) {
      const d = Math.abs(fr(ls - table[i]));
      if (d < bestDist) {
        bestDist = d;
        best = i;
      }
    }
    return best;
  }

  /**
   * Fractional timestep → σ by log-linear interpolation, float32 as ComfyUI's `sigma(t)`. torch's
   * vectorised float32 `exp` is not correctly rounded, so about half the values differ from
   * ComfyUI's by one ulp.
   */
  timestepToSigma(t: number): number {
    const tc = fr(Math.min(Math.max(t, 0), this.sigmas.length - 1));
    const low = Math.floor(tc);
    const high = Math.ceil(tc);
    const w = fr(tc - low);
    const logSigma = fr(fr(fr(1 - w) * this.logSigmas[low]) + fr(w * this.logSigmas[high]));
    return fr(Math.exp(logSigma));
  }
}

/** SD1 "linear" betas in float64 as LDM / ComfyUI build them. */
export function sd1Betas(): Float64Array {
  const roots = torchLinspace(Math.sqrt(BETA_START), Math.sqrt(BETA_END), TRAIN_TIMESTEPS, identity);
  return Float64Array.from(roots, (r) => r * r);
}

let sd1: DiscreteSchedule | undefined;

/** The SD1 schedule ComfyUI uses (σ_min 0.029167159, σ_max 14.614641). */
export function sd1Schedule(): DiscreteSchedule {
  sd1 ??= new DiscreteSchedule(sd1Betas());
  return sd1;
}

export interface DiffusersTables {
  betas: Float32Array;
  alphasCumprod: Float32Array;
  sigmas: Float32Array;
}

let diffusersCache: DiffusersTables | undefined;

/** diffusers' float32 SD1 tables (assets/sd1/sd1_schedule_tables.json), for diffusers parity. */
export function diffusersTables(): DiffusersTables {
  if (!diffusersCache) {
    const raw = JSON.parse(readFileSync(assetPath('sd1', 'sd1_schedule_tables.json'), 'utf8'));
    diffusersCache = {
      betas: Float32Array.from(raw.betas),
      alphasCumprod: Float32Array.from(raw.alphas_cumprod),
      sigmas: Float32Array.from(raw.sigmas),
    };
  }
  return diffusersCache;
}

// ---------------------------------------------------------------------------------------------
// ComfyUI schedulers: (schedule, steps) → steps + 1 sigmas, descending, usually ending in 0.

export type Scheduler = (schedule: DiscreteSchedule, steps: number) => Float32Array;

function withZero(values: number[]): Float32Array {
  const out = new Float32Array(values.length + 1);
  out.set(values);
  return out;
}

/** `normal` (and `sgm_uniform` with sgm): σ at evenly spaced fractional timesteps 999 → 0. */
function normalScheduler(schedule: DiscreteSchedule, steps: number, sgm = false): Float32Array {
  const start = schedule.sigmaToTimestep(schedule.sigmaMax);
  const end = schedule.sigmaToTimestep(schedule.sigmaMin);
  let ts: number[];
  let appendZero = true;
  if (sgm) ts = torchLinspace(start, end, steps + 1).slice(0, -1);
  else {
    if (Math.abs(schedule.timestepToSigma(end)) <= 1e-5) {
      steps += 1;
      appendZero = false;
    }
    ts = torchLinspace(start, end, steps);
  }
  const sig = ts.map((t) => schedule.timestepToSigma(t));
  return appendZero ? withZero(sig) : Float32Array.from(sig);
}

/** Karras et al. 2022 (eq. 5), ρ = 7, between the table's σ_min and σ_max. */
export function karrasSigmas(n: number, sigmaMin: number, sigmaMax: number, rho = 7): Float32Array {
  const ramp = torchLinspace(0, 1, n);
  const minInv = fr(sigmaMin ** (1 / rho));
  const maxInv = fr(sigmaMax ** (1 / rho));
  const diff = fr(minInv - maxInv);
  return withZero(ramp.map((r) => fr(fr(maxInv + fr(r * diff)) ** rho)));
}

/** Evenly spaced in log σ. */
export function exponentialSigmas(n: number, sigmaMin: number, sigmaMax: number): Float32Array {
  return withZero(torchLinspace(Math.log(sigmaMax), Math.log(sigmaMin), n).map((l) => fr(Math.exp(l))));
}

/** ComfyUI `simple`: every (1000/steps)-th table σ from the top. */
function simpleScheduler(schedule: DiscreteSchedule, steps: number): Float32Array {
  const s = schedule.sigmas;
  const ss = s.length / steps;
  const sig: number[] = [];
  for (let x = 0; x < steps; x++) sig.push(s[s.length - 1 - Math.trunc(x * ss)]);
  return withZero(sig);
}

/** ComfyUI `ddim_uniform`: table σ at 1, 1 + k, 1 + 2k, … (k = 1000 div steps), reversed, then 0. */
function ddimUniformScheduler(schedule: DiscreteSchedule, steps: number): Float32Array {
  const s = schedule.sigmas;
  let sig: number[];
  if (Math.abs(s[1]) <= 1e-5) {
    steps += 1;
    sig = [];
  } else sig = [0];
  const ss = Math.max(Math.floor(s.length / steps), 1);
  for (let x = 1; x < s.length; x += ss) sig.push(s[x]);
  return Float32Array.from(sig.reverse());
}

/** ComfyUI `kl_optimal` (Align Your Steps / "KL-optimal" schedule): tan of a linear ramp in atan σ. */
function klOptimalScheduler(schedule: DiscreteSchedule, n: number): Float32Array {
  const out = new Float32Array(n + 1);
  const aMin = Math.atan(schedule.sigmaMin);
  const aMax = Math.atan(schedule.sigmaMax);
  for (let i = 0; i < n; i++) {
    // ComfyUI divides 0 by 0 for one step (→ NaN); start at σ_max instead.
    const t = n === 1 ? 0 : fr(i / (n - 1));
    out[i] = Math.tan(fr(fr(t * fr(aMin)) + fr(fr(1 - t) * fr(aMax))));
  }
  return out;
}

/** ComfyUI `linear_quadratic` (from Mochi): linear then quadratic in 1 − σ/σ_max. */
function linearQuadraticScheduler(schedule: DiscreteSchedule, steps: number): Float32Array {
  const threshold = 0.025;
  let sched: number[];
  if (steps === 1) sched = [1, 0];
  else {
    const linearSteps = Math.floor(steps / 2);
    const lin = Array.from({ length: linearSteps }, (_, i) => (i * threshold) / linearSteps);
    const diff = linearSteps - threshold * steps;
    const quadSteps = steps - linearSteps;
    const qc = diff / (linearSteps * quadSteps ** 2);
    const lc = threshold / linearSteps - (2 * diff) / quadSteps ** 2;
    const c = qc * linearSteps ** 2;
    const quad: number[] = [];
    for (let i = linearSteps; i < steps; i++) quad.push(qc * i ** 2 + lc * i + c);
    sched = [...lin, ...quad, 1].map((x) => 1 - x);
  }
  return Float32Array.from(sched, (x) => fr(x) * schedule.sigmaMax);
}

function logGamma(x: number): number {
  // Lanczos approximation (g = 7, n = 9), ~15 significant digits for x > 0.
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const z = x - 1;
  let a = c[0];
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += c[i] / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Continued fraction for the regularized incomplete beta (modified Lentz). */
function betaContinuedFraction(x: number, a: number, b: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 300; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-16) break;
  }
  return h;
}

/** Regularized incomplete beta I_x(a, b). */
export function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log1p(-x));
  if (x < (a + 1) / (a + b + 2)) return (front * betaContinuedFraction(x, a, b)) / a;
  return 1 - (front * betaContinuedFraction(1 - x, b, a)) / b;
}

/** Quantile of the Beta(a, b) distribution (scipy.stats.beta.ppf), by bisection to full precision. */
export function betaPpf(p: number, a: number, b: number): number {
  if (p <= 0) return 0;
  if (p >= 1) return 1;
  let lo = 0;
  let hi = 1;
  for (let i = 0; i < 200 && hi - lo > 1e-17; i++) {
    const mid = 0.5 * (lo + hi);
    if (incompleteBeta(mid, a, b) < p) lo = mid;
    else hi = mid;
  }
  return 0.5 * (lo + hi);
}

/**
 * ComfyUI `beta` (Lee et al. 2024, "Beta Sampling is All You Need"): timesteps at the Beta(0.6, 0.6)
 * quantiles of 1 − i/steps, rounded to table indices; repeated indices are dropped, so the list can
 * be shorter than steps + 1 for many steps.
 */
function betaScheduler(schedule: DiscreteSchedule, steps: number): Float32Array {
  const total = schedule.sigmas.length - 1;
  const sig: number[] = [];
  let last = -1;
  for (let i = 0; i < steps; i++) {
    const t = roundHalfEven(betaPpf(1 - i / steps, 0.6, 0.6) * total);
    if (t !== last) sig.push(schedule.sigmas[t]);
    last = t;
  }
  return withZero(sig);
}

/** ComfyUI's scheduler names (the KSampler `scheduler` input) in ComfyUI's order, one table. */
export const SCHEDULERS = {
  simple: simpleScheduler,
  sgm_uniform: (s, n) => normalScheduler(s, n, true),
  karras: (s, n) => karrasSigmas(n, s.sigmaMin, s.sigmaMax),
  exponential: (s, n) => exponentialSigmas(n, s.sigmaMin, s.sigmaMax),
  ddim_uniform: ddimUniformScheduler,
  beta: betaScheduler,
  normal: (s, n) => normalScheduler(s, n),
  linear_quadratic: linearQuadraticScheduler,
  kl_optimal: klOptimalScheduler,
} satisfies Record<string, Scheduler>;

export type SchedulerName = keyof typeof SCHEDULERS;
export const SCHEDULER_NAMES = Object.keys(SCHEDULERS) as SchedulerName[];

export function isSchedulerName(name: string): name is SchedulerName {
  return Object.hasOwn(SCHEDULERS, name);
}

/**
 * The sigmas a ComfyUI KSampler runs (`KSampler.set_steps`): with denoise < 1 it builds the
 * schedule for ⌊steps/denoise⌋ steps and keeps the last steps + 1 sigmas (img2img starts partway
 * down); denoise ≤ 0 gives an empty list (nothing to do). Length steps + 1 otherwise.
 */
export function ksamplerSigmas(
  scheduler: SchedulerName,
  steps: number,
  denoise = 1,
  schedule: DiscreteSchedule = sd1Schedule(),
): Float32Array {
  if (!isSchedulerName(scheduler)) {
    throw new RangeError(`unknown scheduler "${scheduler}"; expected one of ${SCHEDULER_NAMES.join(', ')}`);
  }
  if (!Number.isInteger(steps) || steps < 1)
    throw new RangeError(`steps must be a positive integer, got ${steps}`);
  if (Number.isNaN(denoise)) throw new RangeError('denoise is NaN');
  const make = SCHEDULERS[scheduler];
  if (denoise > 0.9999) return make(schedule, steps);
  if (denoise <= 0) return new Float32Array(0);
  const full = make(schedule, Math.trunc(steps / denoise));
  return full.slice(full.length - (steps + 1));
}

// ---------------------------------------------------------------------------------------------
// diffusers' own timestep spacings (SD1_SPEC §5.3–5.5), for parity checks with diffusers runs.

/** DDIMScheduler, "leading" spacing with steps_offset 1: 951, 901, …, 1 for n = 20. */
export function diffusersDdimTimesteps(n: number): number[] {
  const r = Math.floor(TRAIN_TIMESTEPS / n);
  return Array.from({ length: n }, (_, i) => (n - 1 - i) * r + 1);
}

function numpyLinspace(start: number, end: number, n: number): number[] {
  const step = (end - start) / (n - 1);
  return Array.from({ length: n }, (_, i) => (i === n - 1 ? end : start + i * step));
}

/** EulerDiscreteScheduler, "linspace": fractional float32 timesteps and interpolated σ, then 0. */
export function diffusersEulerSchedule(n: number): { timesteps: Float32Array; sigmas: Float32Array } {
  const table = diffusersTables().sigmas;
  const timesteps = Float32Array.from(numpyLinspace(0, TRAIN_TIMESTEPS - 1, n).reverse());
  const sigmas = new Float32Array(n + 1);
  for (let i = 0; i < n; i++) {
    const t = timesteps[i];
    const lo = Math.floor(t);
    const hi = Math.min(lo + 1, table.length - 1);
    const w = t - lo;
    sigmas[i] = table[lo] + w * (table[hi] - table[lo]);
  }
  return { timesteps, sigmas };
}

/** DPMSolverMultistepScheduler, "linspace": integer timesteps, exact table σ, then 0. */
export function diffusersDpmSolverSchedule(n: number): { timesteps: Int32Array; sigmas: Float32Array } {
  const table = diffusersTables().sigmas;
  const ts = numpyLinspace(0, TRAIN_TIMESTEPS - 1, n + 1)
    .map((x) => roundHalfEven(x))
    .reverse()
    .slice(0, n);
  const sigmas = new Float32Array(n + 1);
  ts.forEach((t, i) => {
    sigmas[i] = table[t];
  });
  return { timesteps: Int32Array.from(ts), sigmas };
}

function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
