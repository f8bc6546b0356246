/**
 * ONNX engine benchmark: an SD1 level-0 block stack (conv_in → 2 × [ResBlock + Transformer2D with
 * ξ-scaled cross-attention K/V] → GroupNorm → SiLU → conv_out → MSE), 320 channels, 8 heads,
 * context 77×768, batch 1, float32 on CPU. For 16², 32² and 64² latents it reports forward vs
 * forward+backward (∂loss/∂ξ, attention recomputed) time, peak RSS and session-creation time. At
 * the largest size a deeper stack (--mem-blocks, default 5 as in SD1 at 64²) compares peak RSS with
 * attention maps kept / recomputed / recomputed in query chunks. Every configuration runs in its own
 * process so peak RSS is its own.
 *
 *   npm run bench:engine [-- --sizes 16,32 --runs 5 --threads 2 --mem-blocks 0]
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
import { createSession, type TensorValue } from '../src/onnx/session.js';
import { randn } from '../test/onnx/harness.js';
import { resBlock, transformer, weightMaker } from '../test/onnx/sd-like-blocks.js';

interface Config {
  size: number;
  channels: number;
  /** Res + Transformer pairs in the stack. */
  blocks: number;
  backward: boolean;
  recompute: boolean;
  chunks: number;
  runs: number;
  /** Keep timing until this many ms have passed (0: exactly `runs` runs). */
  minMs: number;
  threads: number;
}

interface Result extends Config {
  nodes: number;
  params: number;
  buildMs: number;
  saveMs: number;
  createMs: number;
  firstRunMs: number;
  medianMs: number;
  rssAfterCreateMB: number;
  peakRssMB: number;
}

function buildStack(c: Config) {
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
  return { graph: b.graph, xis };
}

async function child(c: Config): Promise<Result> {
  let t = performance.now();
  const { graph, xis } = buildStack(c);
  const buildMs = performance.now() - t;
  const dir = mkdtempSync(join(os.tmpdir(), 'engine-bench-'));
  try {
    t = performance.now();
    const saved = saveModel(graph, dir);
    const saveMs = performance.now() - t;
    const session = await createSession(saved.modelPath, { executionProvider: 'cpu', threads: c.threads });
    const rssAfterCreateMB = process.memoryUsage().rss / 2 ** 20;
    const f = (name: string, shape: number[], seed: number, scale = 1, shift = 0): [string, TensorValue] => [
      name,
      {
        dtype: 'float32',
        shape,
        data: Float32Array.from(
          randn(
            seed,
            shape.reduce((p, d) => p * d, 1),
            scale,
            shift,
          ),
        ),
      },
    ];
    const feeds = Object.fromEntries([
      f('latent', [1, 4, c.size, c.size], 1),
      f('temb', [1, 1280], 2),
      f('context', [1, 77, 768], 3),
      f('noise', [1, 4, c.size, c.size], 4),
      ...xis.map((x, i) => f(x.name, [...x.shape], 10 + i, 0, 1)),
    ]);
    t = performance.now();
    await session.run(feeds);
    const firstRunMs = performance.now() - t;
    const times: number[] = [];
    const start = performance.now();
    while (times.length < c.runs || performance.now() - start < c.minMs) {
      t = performance.now();
      await session.run(feeds);
      times.push(performance.now() - t);
      if (times.length >= 50) break;
    }
    times.sort((a, b) => a - b);
    await session.release();
    let params = 0;
    for (const init of graph.initializers.values()) if (init.dtype === 'float32') params += init.data.length;
    return {
      ...c,
      nodes: graph.nodes.length,
      params,
      buildMs,
      saveMs,
      createMs: session.createMs,
      firstRunMs,
      medianMs: times[times.length >> 1],
      rssAfterCreateMB,
      peakRssMB: process.resourceUsage().maxRSS / 1024,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

async function main() {
  if (process.argv[2] === '--child') {
    const r = await child(JSON.parse(process.argv[3]));
    process.stdout.write(`RESULT ${JSON.stringify(r)}\n`);
    return;
  }
  const sizes = arg('sizes', '16,32,64').split(',').map(Number);
  const runs = Number(arg('runs', '5'));
  const threads = Number(arg('threads', String(os.availableParallelism())));
  const channels = Number(arg('channels', '320'));
  const memBlocks = Number(arg('mem-blocks', '5'));
  const base = { channels, blocks: 2, recompute: false, chunks: 1, runs, minMs: 3000, threads };
  const configs: Config[] = [];
  for (const size of sizes) {
    configs.push({ ...base, size, backward: false });
    configs.push({ ...base, size, backward: true, recompute: true });
  }
  // Memory at the largest size with a deeper stack (SD1 has 5 transformer blocks at 64² latents):
  // attention maps kept for the backward vs recomputed vs recomputed in 4 query chunks. One run each.
  const big = Math.max(...sizes);
  const mem = { ...base, size: big, blocks: memBlocks, backward: true, runs: 1, minMs: 0 };
  if (memBlocks > 0) {
    configs.push(
      { ...mem, recompute: false },
      { ...mem, recompute: true },
      { ...mem, recompute: true, chunks: 4 },
    );
  }
  const self = fileURLToPath(import.meta.url);
  const results: Result[] = [];
  console.log(
    `engine bench: C=${channels}, ${threads} threads, CPU EP, ${os.cpus()[0]?.model}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB`,
  );
  for (const c of configs) {
    const out = execFileSync(process.execPath, [...process.execArgv, self, '--child', JSON.stringify(c)], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      maxBuffer: 1 << 24,
    });
    const line = out.split('\n').find((l) => l.startsWith('RESULT '));
    if (!line) throw new Error(`child produced no result for ${JSON.stringify(c)}`);
    const r: Result = JSON.parse(line.slice(7));
    results.push(r);
    console.log(
      `${r.size}² ${r.blocks}×(Res+Tr) ${r.backward ? `fwd+bwd${r.recompute ? ` (recompute attn${r.chunks > 1 ? `, ${r.chunks} chunks` : ''})` : ' (keep attn)'}` : 'fwd'}: median ${r.medianMs.toFixed(1)} ms, first run ${r.firstRunMs.toFixed(0)} ms, create ${r.createMs.toFixed(0)} ms, peak RSS ${r.peakRssMB.toFixed(0)} MB, ${r.nodes} nodes`,
    );
  }
  console.log(
    '\n| latent | fwd ms | fwd+bwd ms | ratio | create fwd / fwd+bwd ms | first run fwd+bwd ms | peak RSS fwd / fwd+bwd MB |',
  );
  console.log('|---|---|---|---|---|---|---|');
  for (const size of sizes) {
    const f = results.find((r) => r.size === size && r.blocks === 2 && !r.backward)!;
    const fb = results.find((r) => r.size === size && r.blocks === 2 && r.backward)!;
    console.log(
      `| ${size}² | ${f.medianMs.toFixed(1)} | ${fb.medianMs.toFixed(1)} | ${(fb.medianMs / f.medianMs).toFixed(2)} | ${f.createMs.toFixed(0)} / ${fb.createMs.toFixed(0)} | ${fb.firstRunMs.toFixed(0)} | ${f.peakRssMB.toFixed(0)} / ${fb.peakRssMB.toFixed(0)} |`,
    );
  }
  const memRuns = results.filter((r) => r.blocks === memBlocks && r.size === big && r.minMs === 0);
  if (memRuns.length) {
    console.log(`\nmemory, ${big}², ${memBlocks}×(Res+Tr), fwd+bwd, one run each:`);
    console.log('| attention in the backward | peak RSS MB | run ms |');
    console.log('|---|---|---|');
    for (const r of memRuns) {
      const how = r.recompute
        ? `recomputed${r.chunks > 1 ? `, ${r.chunks} query chunks` : ''}`
        : 'kept from the forward';
      console.log(`| ${how} | ${r.peakRssMB.toFixed(0)} | ${r.firstRunMs.toFixed(0)} |`);
    }
  }
  console.log(
    `params ${(results[0].params / 1e6).toFixed(1)} M; weights generated in JS (buildMs includes Box–Muller)`,
  );
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
