/**
 * `npm run bench:sd` — SD1 pipeline timings on this machine: text encode, one UNet sampling step
 * (batch 2 = classifier-free guidance) at 32², 40², 48² and 64² latents on one loaded model (the first
 * step at each new size against the steady step there, and RSS after each size: the UNet graph is
 * size-agnostic, so a new size opens no new session), a Cones training step (its session replaces
 * the sampling UNet's: a loaded model holds one copy of the UNet weights), sampling again after it, VAE
 * decode, for the tiny model and a full-width SD1 model with random weights (made by `cones-nodes
 * make-tiny-model --full --fp16`), with float32 and float16 graphs. Each (model, dtype) runs in its own
 * process so its peak RSS is its own, twice: on an empty graph cache and again as a restart on the cache
 * the first left (graphs built, ORT's optimized copies of the inference graphs saved: see
 * src/onnx/optimized-copy.ts), so the first calls a restarted server makes are measured too.
 *
 * Options: --quick (tiny model only), --full-only, --full-fp16 (also time float16 graphs of the
 * full-width model: ORT's CPU float16 kernels make that take tens of minutes), --keep, --reps N,
 * --torch (also time the same full-width UNet step in PyTorch, bench/torch_unet.py, in the same run:
 * needs python3-torch; `--python PATH` picks the interpreter, default the first python3 that has torch).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

interface Timing {
  name: string;
  /** First call: graph build (if not cached) + session creation + first run. */
  firstMs: number;
  /** Median of the timed runs after the first. */
  ms: number;
}

interface MemoryPoint {
  /** What is open at this point. */
  what: string;
  rssMiB: number;
  /** Proportional set size: shared pages (the same file mapped by two sessions) counted once; Linux only. */
  pssMiB?: number;
  /** Bytes the model cache accounts for this model (LoadedModel.bytes). */
  accountedMiB: number;
}

interface ChildResult {
  model: string;
  dtype: string;
  /** 'first start' (empty graph cache) or 'restart' (a new process on the cache the first one left). */
  start: string;
  timings: Timing[];
  memory: MemoryPoint[];
  peakRssMiB: number;
  error?: string;
}

function rssMiB(): number {
  return process.memoryUsage().rss / 2 ** 20;
}

function pssMiB(): number | undefined {
  try {
    const kib = /^Pss:\s+(\d+) kB/m.exec(readFileSync('/proc/self/smaps_rollup', 'utf8'))?.[1];
    return kib === undefined ? undefined : Number(kib) / 1024;
  } catch {
    return undefined;
  }
}

const here = fileURLToPath(import.meta.url);
const root = join(here, '..', '..');

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function child(
  model: string,
  path: string,
  dtype: 'float32' | 'float16',
  cacheDir: string,
  reps: number,
  full: boolean,
) {
  const { LoadedModel } = await import('../src/sd/pipeline/loaded-model.js');
  const { tokenize } = await import('../src/sd/tokenizer/index.js');
  const timings: Timing[] = [];
  const m = await LoadedModel.open(path, {
    graphCacheDir: cacheDir,
    dtype,
    executionProvider: 'cpu',
    maxShapes: 8,
    log: () => {},
  });
  const measure = async (name: string, fn: () => Promise<unknown>, n = reps) => {
    let t = performance.now();
    await fn();
    const firstMs = performance.now() - t;
    const runs: number[] = [];
    for (let i = 0; i < n; i++) {
      t = performance.now();
      await fn();
      runs.push(performance.now() - t);
    }
    timings.push({ name, firstMs, ms: runs.length ? median(runs) : firstMs });
    process.stderr.write(
      `  ${model} ${dtype} ${name}: first ${firstMs.toFixed(0)} ms, then ${(runs.length ? median(runs) : firstMs).toFixed(1)} ms\n`,
    );
  };
  const ids = tokenize('a photo of an astronaut riding a horse on the moon').chunks[0].ids;
  await measure('text encode (77 tokens)', () => m.encodeTokens(ids));
  const u = m.config.unet;
  const memory: MemoryPoint[] = [];
  const mark = (what: string) =>
    memory.push({ what, rssMiB: rssMiB(), pssMiB: pssMiB(), accountedMiB: m.bytes() / 2 ** 20 });
  mark('text encoder');
  // ORT's CPU float16 kernels are far slower than float32 (see the README): the full-width float16
  // graph is timed at 32² only, so the bench finishes in minutes. All sizes run on one loaded model,
  // sessions kept open: the first step at a size is what a user changing the image size waits for.
  const unetSizes = full && dtype === 'float16' ? [32] : [32, 40, 48, 64];
  /** One UNet call of batch 2 (CFG) at a `size`² latent, inputs made once. */
  const unetStep = (size: number) => {
    const batch = 2;
    const sample = new Float32Array(batch * u.inChannels * size * size).map((_, i) => Math.sin(i));
    const context = new Float32Array(batch * 77 * u.contextDim).map((_, i) => Math.cos(i) * 0.1);
    const timestep = new Float32Array([500, 500]);
    return () =>
      m.unet({
        sample,
        timestep,
        context,
        batch,
        contextLength: 77,
        height: size,
        width: size,
        kvMode: 'none',
      });
  };
  for (const size of unetSizes) {
    await measure(
      `UNet step ${size}×${size} latent (batch 2, CFG)`,
      unetStep(size),
      full ? Math.min(reps, 1) : reps,
    );
    mark(`UNet at ${unetSizes.slice(0, unetSizes.indexOf(size) + 1).join('², ')}²`);
  }
  if (dtype === 'float32') {
    // A Cones training step (2 samples, 32² latents, cross-attention scope) on the same loaded model.
    const { training } = m.extraction();
    const B = 2;
    const n = B * u.inChannels * 32 * 32;
    const inputs = {
      latents: new Float32Array(n).map((_, i) => Math.sin(i)),
      noise: new Float32Array(n).map((_, i) => Math.cos(i * 1.3)),
      timestep: new Float32Array([400, 700]),
      context: new Float32Array(B * 77 * u.contextDim).map((_, i) => Math.cos(i) * 0.1),
      lossWeight: new Float32Array([1, 1]),
      sqrtAlphaBar: new Float32Array([0.8, 0.5]),
      sqrtOneMinusAlphaBar: new Float32Array([0.6, 0.866]),
    };
    // Timed apart: what a first extraction waits for before its first step (graph build or cached copy,
    // session creation), then the step itself.
    const shape = { batch: B, height: 32, width: 32, scope: 'cross-attention' } as const;
    await measure('Cones training graph + session ready (32×32, batch 2)', () => training.training(shape), 0);
    const runner = await training.training(shape);
    await measure(
      'Cones training step 32×32 latent (batch 2, cross-attention)',
      () => runner.run(inputs),
      full ? 0 : reps,
    );
    mark('UNet at every size, then the training graph (one UNet copy: the sampling UNet released)');
    // Back to sampling: the training session is released and the sampling UNet reopens (from ORT's
    // optimized copy), the switch a user pays after an extraction.
    await measure(
      'UNet step 32×32 latent after extraction (sampling UNet reopened)',
      unetStep(32),
      full ? 1 : reps,
    );
    mark('sampling again at 32² (training graph released)');
  }
  await m.releaseSessions();
  for (const size of full ? (dtype === 'float32' ? [32] : []) : [32, 64]) {
    const latent = new Float32Array(4 * size * size).map((_, i) => Math.sin(i));
    await measure(
      `VAE decode ${size}×${size} latent (${size * 8} px)`,
      () => m.decode(latent, size, size),
      full ? 0 : reps,
    );
  }
  await m.release();
  const result: ChildResult = {
    model,
    dtype,
    start: '',
    timings,
    memory,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

function runChild(
  model: string,
  path: string,
  dtype: string,
  cacheDir: string,
  reps: number,
  full: boolean,
  start: 'first start' | 'restart',
): ChildResult {
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', here, '--child', model, path, dtype, cacheDir, String(reps), full ? 'full' : 'tiny'],
    { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 24 },
  );
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return { ...(JSON.parse(line) as ChildResult), start };
  } catch {
    return {
      model,
      dtype,
      start,
      timings: [],
      memory: [],
      peakRssMiB: 0,
      error: `exit ${r.status ?? r.signal}`,
    };
  }
}

/**
 * Each (model, dtype) runs twice: on an empty graph cache (graphs built, ORT's optimized copies saved)
 * and again in a new process on what the first left (what a restarted server sees).
 */
const STARTS = ['first start', 'restart'] as const;

async function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      child: { type: 'boolean' },
      quick: { type: 'boolean' },
      'full-only': { type: 'boolean' },
      'full-fp16': { type: 'boolean' },
      keep: { type: 'boolean' },
      reps: { type: 'string' },
      torch: { type: 'boolean' },
      python: { type: 'string' },
    },
  });
  if (values.child) {
    const [model, path, dtype, cacheDir, reps, kind] = positionals;
    await child(model, path, dtype as 'float32' | 'float16', cacheDir, Number(reps), kind === 'full');
    return;
  }
  const reps = Number(values.reps ?? 3);
  const dir = mkdtempSync(join(tmpdir(), 'bench-sd-'));
  const cli = (args: string[]) =>
    execFileSync(process.execPath, ['--import', 'tsx', join(root, 'src', 'cli.ts'), ...args], {
      cwd: root,
      stdio: 'inherit',
    });
  const results: ChildResult[] = [];
  try {
    if (!values['full-only']) {
      const tiny = join(dir, 'tiny.safetensors');
      cli(['make-tiny-model', tiny]);
      for (const dtype of ['float32', 'float16'])
        for (const start of STARTS)
          results.push(runChild('tiny', tiny, dtype, join(dir, 'graphs'), reps, false, start));
    }
    if (!values.quick) {
      const full = join(dir, 'full-fp16.safetensors');
      const t0 = performance.now();
      cli(['make-tiny-model', full, '--full', '--fp16']);
      process.stderr.write(
        `full-width checkpoint: ${(statSync(full).size / 2 ** 30).toFixed(2)} GiB written in ${((performance.now() - t0) / 1000).toFixed(0)} s\n`,
      );
      // full-width float16 graphs take tens of minutes on ORT's CPU kernels: only with --full-fp16
      for (const dtype of values['full-fp16'] ? ['float32', 'float16'] : ['float32'])
        for (const start of STARTS)
          results.push(runChild('full', full, dtype, join(dir, 'graphs'), reps, true, start));
    }
  } finally {
    if (!values.keep) rmSync(dir, { recursive: true, force: true });
  }

  console.log('\nSD1 pipeline on CPU (onnxruntime-node, this machine)\n');
  console.log('| model | graph dtype | start | step | first call (build + session + run) | steady |');
  console.log('|---|---|---|---|---|---|');
  for (const r of results) {
    if (r.error) console.log(`| ${r.model} | ${r.dtype} | ${r.start} | FAILED (${r.error}) | | |`);
    for (const t of r.timings) {
      console.log(
        `| ${r.model} | ${r.dtype} | ${r.start} | ${t.name} | ${(t.firstMs / 1000).toFixed(2)} s | ${t.ms.toFixed(1)} ms |`,
      );
    }
  }
  console.log(
    '\nFirst UNet step at a size never used before on the loaded model, against the steady step there:\n',
  );
  console.log('| model | graph dtype | start | step | first − steady |');
  console.log('|---|---|---|---|---|');
  for (const r of results)
    for (const t of r.timings.filter((t) => t.name.startsWith('UNet step')))
      console.log(
        `| ${r.model} | ${r.dtype} | ${r.start} | ${t.name} | ${((t.firstMs - t.ms) / 1000).toFixed(2)} s |`,
      );
  console.log(
    "\nRSS as sizes and graph kinds are added to one loaded model (accounted = the model cache's figure):\n",
  );
  console.log('| model | graph dtype | start | open | RSS | PSS | accounted |');
  console.log('|---|---|---|---|---|---|---|');
  for (const r of results)
    for (const p of r.memory)
      console.log(
        `| ${r.model} | ${r.dtype} | ${r.start} | ${p.what} | ${(p.rssMiB / 1024).toFixed(2)} GiB | ${p.pssMiB === undefined ? '–' : `${(p.pssMiB / 1024).toFixed(2)} GiB`} | ${(p.accountedMiB / 1024).toFixed(2)} GiB |`,
      );
  console.log('\n| model | graph dtype | start | peak RSS |');
  console.log('|---|---|---|---|');
  for (const r of results)
    console.log(`| ${r.model} | ${r.dtype} | ${r.start} | ${(r.peakRssMiB / 1024).toFixed(2)} GiB |`);
  const step = (model: string, dtype: string, size: number) =>
    results
      .find((r) => r.model === model && r.dtype === dtype && r.start === 'first start')
      ?.timings.find((t) => t.name.startsWith(`UNet step ${size}`))?.ms;
  const ratios: string[] = [];
  for (const model of ['tiny', 'full']) {
    const a = step(model, 'float32', 64);
    const b = step(model, 'float16', 64);
    const c = step(model, 'float32', 32);
    if (a && b) ratios.push(`${model}: fp16/fp32 UNet step time at 64² = ${(b / a).toFixed(2)}`);
    if (a && c) ratios.push(`${model}: 64²/32² UNet step time (fp32) = ${(a / c).toFixed(2)}`);
  }
  const full = step('full', 'float32', 64);
  const tiny = step('tiny', 'float32', 64);
  if (full && tiny) ratios.push(`full/tiny UNet step time at 64² (fp32) = ${(full / tiny).toFixed(1)}`);
  if (values.torch && !values.quick) ratios.push(...torchComparison(results, values.python));
  if (ratios.length) console.log(`\nRatios (same run):\n- ${ratios.join('\n- ')}`);
}

/** The full-width float32 UNet step against PyTorch's (bench/torch_unet.py), run now. */
function torchComparison(results: ChildResult[], python?: string): string[] {
  const candidates = python ? [python] : ['python3', '/usr/bin/python3'];
  const exe = candidates.find((p) => spawnSync(p, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0);
  if (!exe) return [`PyTorch comparison skipped: no python3 with torch among ${candidates.join(', ')}`];
  const r = spawnSync(exe, [join(root, 'bench', 'torch_unet.py'), '--sizes', '32,64', '--reps', '2'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const rows = r.stdout
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { torch: string; threads: number; size: number; ms: number });
  const out: string[] = [];
  for (const row of rows)
    for (const start of STARTS) {
      const ours = results
        .find((x) => x.model === 'full' && x.dtype === 'float32' && x.start === start)
        ?.timings.find((t) => t.name.startsWith(`UNet step ${row.size}×`))?.ms;
      if (ours)
        out.push(
          `full float32 UNet step ${row.size}² (batch 2), ${start}: cones-nodes ${(ours / 1000).toFixed(2)} s, PyTorch ${row.torch} (${row.threads} threads) ${(row.ms / 1000).toFixed(2)} s = ${(ours / row.ms).toFixed(2)}× PyTorch's time`,
        );
    }
  return out;
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
