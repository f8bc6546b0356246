/**
 * ONNX engine benchmark: an SD1 level-0 block stack (conv_in → 2 × [ResBlock + Transformer2D with
 * ξ-scaled cross-attention K/V] → GroupNorm → SiLU → conv_out → MSE), 320 channels, 8 heads,
 * context 77×768, batch 1, float32, CPU EP.
 *
 * For 16², 32² and 64² latents:
 *  - time: one process builds the forward graph and the forward+backward (∂loss/∂ξ, attention
 *    recomputed) graph, creates both sessions (session-creation time), warms both up, then runs
 *    them alternately, so the fwd+bwd / fwd ratio is measured under the same machine load;
 *  - memory: the peak RSS (VmHWM) over two runs — the second allocates by ORT's recorded memory
 *    pattern, which is the steady state of a service — each graph in its own process.
 * At the largest size a deeper stack (--mem-blocks, default 5 = SD1's transformer blocks at 64²)
 * compares peak RSS with attention maps kept / recomputed / recomputed in 4 query chunks.
 *
 *   npm run bench:engine [-- --sizes 16,32 --runs 5 --threads 2 --mem-blocks 0 --channels 320]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Builder } from '../src/onnx/builder.js';
import { grad } from '../src/onnx/grad.js';
import type { Value } from '../src/onnx/ir.js';
import { saveModel } from '../src/onnx/serialize.js';
import { createSession, type EngineSession, type TensorValue } from '../src/onnx/session.js';
import { randn } from '../test/onnx/harness.js';
import { resBlock, transformer, weightMaker } from '../test/onnx/sd-like-blocks.js';

interface Graph {
  size: number;
  channels: number;
  /** Res + Transformer pairs. */
  blocks: number;
  backward: boolean;
  recompute: boolean;
  chunks: number;
}

type Job =
  | { kind: 'time'; size: number; channels: number; runs: number; threads: number }
  | { kind: 'mem'; graph: Graph; threads: number };

interface TimeResult {
  size: number;
  fwdMs: number;
  fwdBwdMs: number;
  createFwdMs: number;
  createFwdBwdMs: number;
  firstFwdBwdMs: number;
  pairs: number;
  nodesFwd: number;
  nodesFwdBwd: number;
  params: number;
}

interface MemResult {
  graph: Graph;
  /** max RSS after the first run (arena grown, no memory pattern yet). */
  firstPeakRssMB: number;
  /** max RSS after a second run, which allocates by the recorded memory pattern (steady state). */
  peakRssMB: number;
  runMs: number;
}

function buildStack(c: Graph) {
  const b = new Builder('stack');
  const w = weightMaker(b, 'float32', 3);
  const latent = b.input('latent', 'float32', [1, 4, c.size, c.size]);
  const temb = b.input('temb', 'float32', [1, 1280]);
  const ctx = b.input('context', 'float32', [1, 77, 768]);
  const noise = b.input('noise', 'float32', [1, 4, c.size, c.size]);
  const xis: Value[] = [];
  const dims = { groups: 32, heads: 8 };
  let h = b.scope('input_blocks.0.0', () =>
    b.conv2d(latent, w('weight', [c.channels, 4, 3, 3], 0.2), w('bias', [c.channels], 0.05)),
  );
  for (let blk = 1; blk <= c.blocks; blk++) {
    h = b.scope(`input_blocks.${blk}.0`, () => resBlock(b, w, h, temb, c.channels, dims));
    const xiK = b.input(`xi.${blk}.k`, 'float32', [c.channels, 768]);
    const xiV = b.input(`xi.${blk}.v`, 'float32', [c.channels, 768]);
    xis.push(xiK, xiV);
    h = b.scope(`input_blocks.${blk}.1`, () =>
      transformer(b, w, h, ctx, { ...dims, xiK, xiV, recompute: c.recompute, chunks: c.chunks }),
    );
  }
  h = b.scope('out', () =>
    b.silu(b.groupNorm(h, w('0.weight', [c.channels], 0.2, 1), w('0.bias', [c.channels], 0.1), 32, 1e-5)),
  );
  const eps = b.scope('out.2', () =>
    b.conv2d(h, w('weight', [4, c.channels, 3, 3], 0.02), w('bias', [4], 0.05)),
  );
  const loss = b.mse(eps, noise);
  if (c.backward) grad(b, loss, xis);
  else b.output(loss, 'loss');
  let params = 0;
  for (const init of b.graph.initializers.values()) if (init.dtype === 'float32') params += init.data!.length;
  return { graph: b.graph, xis, params };
}

function feedsFor(size: number, xis: readonly Value[]): Record<string, TensorValue> {
  const f = (name: string, shape: number[], seed: number, scale = 1, shift = 0): [string, TensorValue] => {
    const n = shape.reduce((p, d) => p * d, 1);
    return [name, { dtype: 'float32', shape, data: Float32Array.from(randn(seed, n, scale, shift)) }];
  };
  return Object.fromEntries([
    f('latent', [1, 4, size, size], 1),
    f('temb', [1, 1280], 2),
    f('context', [1, 77, 768], 3),
    f('noise', [1, 4, size, size], 4),
    ...xis.map((x, i) => f(x.name, [...x.shape], 10 + i, 0, 1)),
  ]);
}

async function open(g: Graph, threads: number, dir: string) {
  const { graph, xis, params } = buildStack(g);
  const saved = saveModel(graph, join(dir, g.backward ? 'fwdbwd' : 'fwd'));
  const session = await createSession(saved.modelPath, { executionProvider: 'cpu', threads });
  return { session, feeds: feedsFor(g.size, xis), nodes: graph.nodes.length, params };
}

async function timed(s: EngineSession, feeds: Record<string, TensorValue>): Promise<number> {
  const t = performance.now();
  await s.run(feeds);
  return performance.now() - t;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

async function runJob(job: Job, dir: string): Promise<TimeResult | MemResult> {
  if (job.kind === 'mem') {
    const { session, feeds } = await open(job.graph, job.threads, dir);
    await timed(session, feeds);
    const firstPeakRssMB = process.resourceUsage().maxRSS / 1024;
    const runMs = await timed(session, feeds);
    await session.release();
    return { graph: job.graph, firstPeakRssMB, peakRssMB: process.resourceUsage().maxRSS / 1024, runMs };
  }
  const g: Graph = {
    size: job.size,
    channels: job.channels,
    blocks: 2,
    backward: false,
    recompute: false,
    chunks: 1,
  };
  const fwd = await open(g, job.threads, dir);
  const full = await open({ ...g, backward: true, recompute: true }, job.threads, dir);
  await timed(fwd.session, fwd.feeds);
  const firstFwdBwdMs = await timed(full.session, full.feeds);
  const tf: number[] = [];
  const tb: number[] = [];
  const start = performance.now();
  while (tf.length < job.runs || performance.now() - start < 3000) {
    tf.push(await timed(fwd.session, fwd.feeds));
    tb.push(await timed(full.session, full.feeds));
    if (tf.length >= 30) break;
  }
  await fwd.session.release();
  await full.session.release();
  return {
    size: job.size,
    fwdMs: median(tf),
    fwdBwdMs: median(tb),
    createFwdMs: fwd.session.createMs,
    createFwdBwdMs: full.session.createMs,
    firstFwdBwdMs,
    pairs: tf.length,
    nodesFwd: fwd.nodes,
    nodesFwdBwd: full.nodes,
    params: fwd.params,
  };
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

function inChild<T>(job: Job): T {
  const self = fileURLToPath(import.meta.url);
  const out = execFileSync(process.execPath, [...process.execArgv, self, '--child', JSON.stringify(job)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 1 << 24,
  });
  const line = out.split('\n').find((l) => l.startsWith('RESULT '));
  if (!line) throw new Error(`child produced no result for ${JSON.stringify(job)}`);
  return JSON.parse(line.slice(7));
}

async function main() {
  if (process.argv[2] === '--child') {
    const dir = mkdtempSync(join(os.tmpdir(), 'engine-bench-'));
    try {
      const r = await runJob(JSON.parse(process.argv[3]), dir);
      process.stdout.write(`RESULT ${JSON.stringify(r)}\n`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    return;
  }
  const sizes = arg('sizes', '16,32,64').split(',').map(Number);
  const runs = Number(arg('runs', '5'));
  const threads = Number(arg('threads', String(os.availableParallelism())));
  const channels = Number(arg('channels', '320'));
  const memBlocks = Number(arg('mem-blocks', '5'));
  console.log(
    `engine bench: C=${channels}, ${threads} threads, CPU EP, ${os.cpus()[0]?.model}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, load average ${os.loadavg()[0].toFixed(1)}`,
  );

  const rows: string[] = [];
  for (const size of sizes) {
    const t = inChild<TimeResult>({ kind: 'time', size, channels, runs, threads });
    const base: Graph = { size, channels, blocks: 2, backward: false, recompute: false, chunks: 1 };
    const mf = inChild<MemResult>({ kind: 'mem', graph: base, threads });
    const mb = inChild<MemResult>({
      kind: 'mem',
      graph: { ...base, backward: true, recompute: true },
      threads,
    });
    console.log(
      `${size}²: fwd ${t.fwdMs.toFixed(1)} ms, fwd+bwd ${t.fwdBwdMs.toFixed(1)} ms (${t.pairs} alternating pairs), peak RSS ${mf.peakRssMB.toFixed(0)} / ${mb.peakRssMB.toFixed(0)} MB, ${t.nodesFwd} / ${t.nodesFwdBwd} nodes, ${(t.params / 1e6).toFixed(1)} M params`,
    );
    rows.push(
      `| ${size}² | ${t.fwdMs.toFixed(1)} | ${t.fwdBwdMs.toFixed(1)} | ${(t.fwdBwdMs / t.fwdMs).toFixed(2)} | ${t.createFwdMs.toFixed(0)} / ${t.createFwdBwdMs.toFixed(0)} | ${t.firstFwdBwdMs.toFixed(0)} | ${mf.peakRssMB.toFixed(0)} / ${mb.peakRssMB.toFixed(0)} | ${(mb.peakRssMB / mf.peakRssMB).toFixed(2)} |`,
    );
  }
  console.log(
    '\n| latent | fwd ms | fwd+bwd ms | ratio | session create fwd / fwd+bwd ms | first fwd+bwd run ms | peak RSS fwd / fwd+bwd MB | RSS ratio |',
  );
  console.log('|---|---|---|---|---|---|---|---|');
  for (const r of rows) console.log(r);

  if (memBlocks > 0) {
    const big = Math.max(...sizes);
    const g: Graph = { size: big, channels, blocks: memBlocks, backward: true, recompute: false, chunks: 1 };
    console.log(`\nmemory, ${big}², ${memBlocks}×(Res+Tr), fwd+bwd, two runs each (its own process):`);
    console.log('| attention in the backward | peak RSS MB (after run 1 / run 2) | run 2 ms |');
    console.log('|---|---|---|');
    for (const [how, graph] of [
      ['kept from the forward', g],
      ['recomputed', { ...g, recompute: true }],
      ['recomputed, 4 query chunks', { ...g, recompute: true, chunks: 4 }],
    ] as const) {
      const m = inChild<MemResult>({ kind: 'mem', graph, threads });
      console.log(
        `| ${how} | ${m.firstPeakRssMB.toFixed(0)} / ${m.peakRssMB.toFixed(0)} | ${m.runMs.toFixed(0)} |`,
      );
    }
  }
  console.log(`(load average at the end ${os.loadavg()[0].toFixed(1)})`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
