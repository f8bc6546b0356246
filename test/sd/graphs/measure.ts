/**
 * Timings and memory of the SD1 graphs on the tiny model (not a test; run by hand):
 *   npx tsx test/sd/graphs/measure.ts            build/serialize/session-create per graph, UNet steps
 *   npx tsx test/sd/graphs/measure.ts memory     peak RSS of a training step, attention recompute self / none / all
 *   npx tsx test/sd/graphs/measure.ts recompute-time 48   step time per recompute policy (interleaved)
 *   npx tsx test/sd/graphs/measure.ts liveness 4 64      static peak activations of the SD-width training graph
 * Each memory case runs in its own process so VmHWM belongs to that configuration alone.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openCheckpoint } from '../../../src/sd/checkpoint/checkpoint.js';
import { unetShapes } from '../../../src/sd/checkpoint/sd1-tensors.js';
import { SD1_CONFIG } from '../../../src/sd/config.js';
import { loadSd1Sessions } from '../../../src/sd/graphs/sessions.js';
import { buildTrainingGraph } from '../../../src/sd/graphs/training.js';
import type { AttentionRecompute } from '../../../src/sd/graphs/unet.js';
import type { WeightTensor } from '../../../src/sd/graphs/weights.js';
import { writeTinyModel } from '../../../src/sd/tiny-model.js';

const THREADS = 2;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function timeRuns(fn: () => Promise<unknown>, minRuns = 5, minMs = 2000): Promise<number> {
  await fn(); // warm-up: arena growth and memory-pattern recording
  const times: number[] = [];
  const start = performance.now();
  while (times.length < minRuns || performance.now() - start < minMs) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  return median(times);
}

/** Median ms of each case, run round-robin after one warm-up each. */
async function interleaved(
  cases: Record<string, () => Promise<unknown>>,
  rounds = 9,
): Promise<Record<string, number>> {
  for (const fn of Object.values(cases)) await fn();
  const times: Record<string, number[]> = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
  for (let r = 0; r < rounds; r++) {
    for (const [k, fn] of Object.entries(cases)) {
      const t0 = performance.now();
      await fn();
      times[k].push(performance.now() - t0);
    }
  }
  return Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)]));
}

function wave(n: number, seed: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + seed));
}

async function timings(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sd-graphs-measure-'));
  try {
    await writeTinyModel(join(dir, 'tiny.safetensors'));
    const ck = await openCheckpoint(join(dir, 'tiny.safetensors'));
    const D = ck.config.unet.contextDim;
    const sessions = loadSd1Sessions(ck, join(dir, 'cache'), {
      session: { executionProvider: 'cpu', threads: THREADS },
    });
    const rows: string[] = [];
    const report = (name: string, r: { buildMs: number; createMs: number }) =>
      rows.push(
        `${name.padEnd(44)} build+serialize ${r.buildMs.toFixed(0).padStart(6)} ms   session create ${r.createMs.toFixed(0).padStart(6)} ms`,
      );
    report('text encoder [1,77]', await sessions.textEncoder({ batch: 1 }));
    report('UNet 8×8 b1, kvMode none', await sessions.unet({ batch: 1, height: 8, width: 8 }));
    report('UNet 8×8 b1, kvMode all', await sessions.unet({ batch: 1, height: 8, width: 8, kvMode: 'all' }));
    report('VAE encoder 64×64 image b1', await sessions.vaeEncoder({ batch: 1, height: 64, width: 64 }));
    report('VAE decoder 8×8 latent b1', await sessions.vaeDecoder({ batch: 1, height: 8, width: 8 }));
    report(
      'training 8×8 b2, cross-attention',
      await sessions.training({ batch: 2, height: 8, width: 8, scope: 'cross-attention' }),
    );
    report('training 8×8 b2, all', await sessions.training({ batch: 2, height: 8, width: 8, scope: 'all' }));
    report(
      'UNet fp16 8×8 b1 (CPU runs fp16 via casts)',
      await sessions.unet({ batch: 1, height: 8, width: 8, dtype: 'float16' }),
    );
    console.log(rows.join('\n'));

    const unetCase = async (batch: number, kvMode: 'none' | 'cross-attention' | 'all') => {
      const unet = await sessions.unet({ batch, height: 32, width: 32, kvMode });
      const inputs = {
        sample: wave(batch * 4 * 32 * 32, 1),
        timestep: new Float32Array(batch).fill(500),
        context: wave(batch * 77 * D, 2),
      };
      return () => unet.run(inputs);
    };
    const train = await sessions.training({ batch: 2, height: 32, width: 32, scope: 'all' });
    const tIn = {
      latents: wave(2 * 4 * 32 * 32, 3),
      noise: wave(2 * 4 * 32 * 32, 4),
      timestep: new Float32Array([100, 700]),
      context: wave(2 * 77 * D, 5),
      lossWeight: new Float32Array([1, 1]),
      sqrtAlphaBar: new Float32Array([0.9, 0.4]),
      sqrtOneMinusAlphaBar: new Float32Array([0.43, 0.92]),
    };
    // Interleaved rounds: this VM is shared, so only ratios within one round-robin are meaningful.
    const m = await interleaved({
      b1: await unetCase(1, 'none'),
      b2: await unetCase(2, 'none'),
      b2cross: await unetCase(2, 'cross-attention'),
      b2all: await unetCase(2, 'all'),
      train: () => train.run(tIn),
    });
    console.log(
      `UNet fp32 step 32×32 latent, batch 1: ${m.b1.toFixed(1)} ms; batch 2 (CFG): ${m.b2.toFixed(1)} ms`,
    );
    console.log(
      `K/V mask inputs, batch 2: cross-attention ${(m.b2cross / m.b2).toFixed(2)}×, all ${(m.b2all / m.b2).toFixed(2)}× the no-mask step`,
    );
    console.log(
      `training step 32×32 b2 (scope all, fwd+bwd): ${m.train.toFixed(1)} ms = ${(m.train / m.b2).toFixed(2)}× a batch-2 UNet step`,
    );
    await sessions.release();
    await ck.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One training step in this process; prints peak RSS. */
async function memoryCase(recompute: AttentionRecompute, size: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sd-graphs-mem-'));
  try {
    await writeTinyModel(join(dir, 'tiny.safetensors'));
    const ck = await openCheckpoint(join(dir, 'tiny.safetensors'));
    const D = ck.config.unet.contextDim;
    const sessions = loadSd1Sessions(ck, join(dir, 'cache'), {
      session: { executionProvider: 'cpu', threads: THREADS },
    });
    const train = await sessions.training({
      batch: 1,
      height: size,
      width: size,
      scope: 'all',
      recomputeAttention: recompute,
    });
    const n = 4 * size * size;
    const inputs = {
      latents: wave(n, 3),
      noise: wave(n, 4),
      timestep: new Float32Array([500]),
      context: wave(77 * D, 5),
      lossWeight: new Float32Array([1]),
      sqrtAlphaBar: new Float32Array([0.7]),
      sqrtOneMinusAlphaBar: new Float32Array([0.71]),
    };
    const ms = await timeRuns(() => train.run(inputs), 2, 0);
    const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
    console.log(
      `${size}×${size} latent, recompute ${recompute.padEnd(4)}: peak RSS ${(Number(hwm) / 1024).toFixed(0)} MB, step ${ms.toFixed(0)} ms`,
    );
    await sessions.release();
    await ck.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Step time of the training graph with each recompute policy, interleaved in one process. */
async function recomputeTimes(size: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sd-graphs-recompute-'));
  try {
    await writeTinyModel(join(dir, 'tiny.safetensors'));
    const ck = await openCheckpoint(join(dir, 'tiny.safetensors'));
    const D = ck.config.unet.contextDim;
    const sessions = loadSd1Sessions(ck, join(dir, 'cache'), {
      session: { executionProvider: 'cpu', threads: THREADS },
    });
    const n = 4 * size * size;
    const inputs = {
      latents: wave(n, 3),
      noise: wave(n, 4),
      timestep: new Float32Array([500]),
      context: wave(77 * D, 5),
      lossWeight: new Float32Array([1]),
      sqrtAlphaBar: new Float32Array([0.7]),
      sqrtOneMinusAlphaBar: new Float32Array([0.71]),
    };
    const cases: Record<string, () => Promise<unknown>> = {};
    for (const r of ['none', 'self', 'all'] as const) {
      const t = await sessions.training({
        batch: 1,
        height: size,
        width: size,
        scope: 'all',
        recomputeAttention: r,
      });
      cases[r] = () => t.run(inputs);
    }
    const m = await interleaved(cases, 5);
    console.log(
      `training step ${size}×${size} b1 (interleaved): none ${m.none.toFixed(0)} ms, self ${m.self.toFixed(0)} ms (${(m.self / m.none).toFixed(2)}×), all ${m.all.toFixed(0)} ms (${(m.all / m.none).toFixed(2)}×)`,
    );
    await sessions.release();
    await ck.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Static peak of live activations of the SD-width training graph (no weights needed: every weight is a
 * view of one shared zero buffer). Walks the nodes in emission order, freeing each value after its last
 * reader — roughly ORT's sequential plan; initializers are excluded.
 */
function liveness(batch: number, size: number): void {
  const config = SD1_CONFIG;
  const shared = new Float32Array(1280 * 2560 * 9);
  const weights = new Map<string, WeightTensor>();
  for (const [key, shape] of unetShapes(config.unet)) {
    const n = shape.reduce((a, b) => a * b, 1);
    weights.set(key, { data: shared.subarray(0, n), shape, dtype: 'float32' });
  }
  for (const recompute of ['self', 'none'] as const) {
    const t0 = performance.now();
    const g = buildTrainingGraph(config, weights, {
      batch,
      height: size,
      width: size,
      scope: 'all',
      recomputeAttention: recompute,
    }).builder.graph;
    const buildMs = performance.now() - t0;
    const lastUse = new Map<string, number>();
    g.nodes.forEach((n, i) => {
      for (const x of n.inputs) if (x) lastUse.set(x, i);
    });
    for (const o of g.outputs) lastUse.set(o, g.nodes.length);
    const bytes = (name: string) => {
      const v = g.value(name);
      return (
        v.shape.reduce((a, b) => a * b, 1) *
        (v.dtype === 'float64' || v.dtype === 'int64' ? 8 : v.dtype === 'float16' ? 2 : 4)
      );
    };
    let live = 0;
    let peak = 0;
    for (const name of g.inputs) live += bytes(name);
    const frees = new Map<number, string[]>();
    for (const [name, i] of lastUse)
      if (!g.isInitializer(name)) frees.set(i, [...(frees.get(i) ?? []), name]);
    g.nodes.forEach((n, i) => {
      for (const o of n.outputs) live += bytes(o);
      peak = Math.max(peak, live);
      for (const name of frees.get(i) ?? []) live -= bytes(name);
    });
    console.log(
      `SD1 width, ${size}×${size} latent, batch ${batch}, scope all, recompute ${recompute}: ${g.nodes.length} nodes, built in ${buildMs.toFixed(0)} ms, peak live activations ${(peak / 2 ** 30).toFixed(1)} GiB`,
    );
  }
}

const [mode, arg, size] = process.argv.slice(2);
if (mode === 'liveness') liveness(Number(arg ?? 4), Number(size ?? 64));
else if (mode === 'recompute-time') await recomputeTimes(Number(arg ?? 32));
else if (mode === 'memory-case') await memoryCase(arg as AttentionRecompute, Number(size));
else if (mode === 'memory') {
  const self = fileURLToPath(import.meta.url);
  for (const s of ['64'])
    for (const r of ['self', 'none', 'all'])
      process.stdout.write(execFileSync('npx', ['tsx', self, 'memory-case', r, s], { encoding: 'utf8' }));
} else await timings();
