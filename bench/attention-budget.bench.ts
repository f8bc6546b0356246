/**
 * `npm run bench:attention -- [--checkpoint FILE] [--images N] [--budgets 0,1024,512]` — what the
 * attention-map budget (`--attention-map-mb`, src/sd/graphs/unet-micro-batch.ts) costs and saves: one
 * UNet call of a full-width SD1 model at 512 px for N images with classifier-free guidance (batch 2N,
 * default N = 4), once per budget, each in its own process so its peak RSS is its own. Without
 * --checkpoint it makes a full-width model with random weights (`make-tiny-model --full --fp16`).
 * Prints seconds and peak RSS per budget, and ratios against the first budget, all from one run.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = fileURLToPath(import.meta.url);
const root = join(here, '..', '..');
const LATENT = 64; // 512 px

interface Result {
  budgetMiB: number;
  batch: number;
  calls: number[];
  seconds: number;
  peakGiB: number;
}

const peakGiB = () => Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1]) / 2 ** 20;

async function child(path: string, cacheDir: string, budgetMiB: number, batch: number): Promise<Result> {
  const { LoadedModel } = await import('../src/sd/pipeline/loaded-model.js');
  const { attentionMapBytesPerSample, unetCallSizes } = await import('../src/sd/graphs/unet-micro-batch.js');
  const model = await LoadedModel.open(path, {
    graphCacheDir: cacheDir,
    dtype: 'float32',
    executionProvider: 'cpu',
    maxShapes: 4,
    attentionMapBytes: budgetMiB * 2 ** 20,
    log: () => {},
  });
  const u = model.config.unet;
  const L = 77;
  const input = (b: number, size: number) => ({
    sample: Float32Array.from({ length: b * u.inChannels * size * size }, (_, i) => Math.sin(i * 0.1)),
    timestep: new Float32Array(b).fill(500),
    context: Float32Array.from({ length: b * L * u.contextDim }, (_, i) => Math.cos(i * 0.01)),
    batch: b,
    contextLength: L,
    height: size,
    width: size,
    kvMode: 'none' as const,
  });
  await model.unet(input(1, 8)); // opens the session; the peak below is the 512-px call's
  const t = performance.now();
  await model.unet(input(batch, LATENT));
  const seconds = (performance.now() - t) / 1000;
  const calls = unetCallSizes(batch, attentionMapBytesPerSample(u, LATENT, LATENT, 4), budgetMiB * 2 ** 20);
  await model.release();
  return { budgetMiB, batch, calls, seconds, peakGiB: peakGiB() };
}

async function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      child: { type: 'boolean' },
      checkpoint: { type: 'string' },
      images: { type: 'string' },
      budgets: { type: 'string' },
    },
  });
  if (values.child) {
    const [path, cacheDir, budget, batch] = positionals;
    process.stdout.write(`${JSON.stringify(await child(path, cacheDir, Number(budget), Number(batch)))}\n`);
    return;
  }
  const batch = 2 * Number(values.images ?? 4);
  const budgets = (values.budgets ?? '0,1024,512').split(',').map(Number);
  const dir = mkdtempSync(join(tmpdir(), 'bench-attention-'));
  const started = performance.now();
  try {
    let path = values.checkpoint;
    if (!path) {
      path = join(dir, 'full-fp16.safetensors');
      execFileSync(
        process.execPath,
        ['--import', 'tsx', join(root, 'src', 'cli.ts'), 'make-tiny-model', path, '--full', '--fp16'],
        { cwd: root, stdio: 'inherit' },
      );
    }
    const results: Result[] = [];
    for (const budget of budgets) {
      const r = spawnSync(
        process.execPath,
        ['--import', 'tsx', here, '--child', path, join(dir, 'graphs'), String(budget), String(batch)],
        { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
      );
      const line = r.stdout.trim().split('\n').pop() ?? '';
      if (r.status !== 0 || !line)
        throw new Error(`budget ${budget} MiB: child exited ${r.status ?? r.signal}`);
      results.push(JSON.parse(line) as Result);
      process.stderr.write(`budget ${budget} MiB done\n`);
    }
    const base = results[0];
    console.log(
      `\nOne full-width SD1 UNet call at 512 px, batch ${batch} (${batch / 2} images with guidance), CPU\n`,
    );
    console.log('| attention-map budget | calls | seconds | peak RSS | time vs first | peak vs first |');
    console.log('|---|---|---:|---:|---:|---:|');
    for (const r of results)
      console.log(
        `| ${r.budgetMiB === 0 ? 'no limit' : `${r.budgetMiB} MiB`} | ${r.calls.join(' + ')} | ${r.seconds.toFixed(1)} | ` +
          `${r.peakGiB.toFixed(2)} GiB | ${(r.seconds / base.seconds).toFixed(2)} | ${(r.peakGiB / base.peakGiB).toFixed(2)} |`,
      );
    console.log(`\nwhole bench: ${((performance.now() - started) / 1000).toFixed(0)} s`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
