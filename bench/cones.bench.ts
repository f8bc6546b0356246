/**
 * `npm run bench:cones` — concept file format over the full SD1 K/V scope.
 *
 * For densities 0.1 %, 1 %, 5 % (random Bernoulli sets, the case the entropy bound H(p)/p describes)
 * and one clustered set (whole output rows, as a concept concentrated in a few channels would be),
 * in both scopes (cross-attention K/V: 32 weights, 19.2 M parameters; all attention K/V: 64 weights,
 * 44.0 M parameters): bytes per index of our codec (index streams, and the whole file with its
 * header) against a plain int32 list and a bitmap, plus encode/decode times (median of runs).
 *
 * The extraction half: one Algorithm A2 step against one forward UNet call, on the pipeline's own
 * loaded model (src/sd/pipeline/loaded-model.ts). Options: --full (add full-width SD1 cases),
 * --full-only, --resolution N (only cases at N px), --no-extraction.
 */
import { type Concept, createConcept } from '../src/cones/concept.js';
import { decodeConcept, encodeConcept } from '../src/cones/file.js';
import { type ConceptScope, kvShapes } from '../src/cones/layers.js';

function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Bernoulli(p) set by geometric skips (same distribution as testing every element). */
function bernoulliSet(numel: number, p: number, random: () => number): Uint32Array {
  const out: number[] = [];
  const logq = Math.log1p(-p);
  let i = -1;
  for (;;) {
    i += 1 + Math.floor(Math.log(1 - random()) / logq);
    if (i >= numel) break;
    out.push(i);
  }
  return Uint32Array.from(out);
}

/** Whole output rows (every input column of a chosen output channel), about p of the weight. */
function rowSet(rows: number, cols: number, p: number, random: () => number): Uint32Array {
  const out: number[] = [];
  for (let r = 0; r < rows; r++) if (random() < p) for (let c = 0; c < cols; c++) out.push(r * cols + c);
  return Uint32Array.from(out);
}

function makeConcept(scope: ConceptScope, density: number, clustered: boolean, seed: number): Concept {
  const shapes = kvShapes(scope);
  const random = seededRandom(seed);
  const indices = new Map<string, Uint32Array>();
  for (const [key, [o, i]] of shapes) {
    indices.set(key, clustered ? rowSet(o, i, density, random) : bernoulliSet(o * i, density, random));
  }
  return createConcept({
    identifier: 'sks',
    class_noun: 'dog',
    base_model: { fingerprint: 'bench', name: 'SD1 shapes', architecture: 'sd1' },
    scope,
    origin: {
      kind: 'extracted',
      hyper_parameters: {
        steps: 1,
        learning_rate: 1,
        selection: 'top_fraction',
        top_fraction: density,
        batch_size: 1,
        prior_loss_weight: 1,
        resolution: 512,
        seed,
      },
    },
    shapes,
    indices,
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function time(fn: () => void, runs: number): number {
  const ms: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    fn();
    ms.push(performance.now() - t0);
  }
  return median(ms);
}

const entropyBytesPerIndex = (p: number) => (-p * Math.log2(p) - (1 - p) * Math.log2(1 - p)) / p / 8;

interface Row {
  scope: string;
  set: string;
  indices: number;
  streamBpi: number;
  fileBpi: number;
  entropyBpi: number | null;
  int32Bpi: number;
  bitmapBpi: number;
  vsInt32: number;
  vsBitmap: number;
  fileKiB: number;
  codecs: string;
  encodeMs: number;
  decodeMs: number;
  decodeMIndexPerS: number;
}

function measure(scope: ConceptScope, density: number, clustered: boolean): Row {
  const concept = makeConcept(scope, density, clustered, 1234);
  const count = concept.layers.reduce((s, l) => s + l.indices.length, 0);
  const params = concept.layers.reduce((s, l) => s + l.shape[0] * l.shape[1], 0);
  const encoded = encodeConcept(concept);
  const streamBytes = [...encoded.streams.values()].reduce((s, x) => s + x.bytes, 0);
  const codecCounts = new Map<string, number>();
  for (const s of encoded.streams.values()) codecCounts.set(s.codec, (codecCounts.get(s.codec) ?? 0) + 1);
  const runs = density >= 0.05 ? 3 : 5;
  const encodeMs = time(() => encodeConcept(concept), runs);
  const decodeMs = time(() => decodeConcept(encoded.bytes), runs);
  const bitmapBytes = params / 8;
  return {
    scope,
    set: `${clustered ? 'rows ' : ''}${(100 * density).toPrecision(2)}%`,
    indices: count,
    streamBpi: streamBytes / count,
    fileBpi: encoded.bytes.length / count,
    entropyBpi: clustered ? null : entropyBytesPerIndex(density),
    int32Bpi: 4,
    bitmapBpi: bitmapBytes / count,
    vsInt32: (4 * count) / encoded.bytes.length,
    vsBitmap: bitmapBytes / encoded.bytes.length,
    fileKiB: encoded.bytes.length / 1024,
    codecs: [...codecCounts].map(([c, n]) => `${c}×${n}`).join(' '),
    encodeMs,
    decodeMs,
    decodeMIndexPerS: count / decodeMs / 1000,
  };
}

const rows: Row[] = [];
for (const scope of ['cross-attention K/V', 'all attention K/V'] as const) {
  for (const density of [0.001, 0.01, 0.05]) rows.push(measure(scope, density, false));
  rows.push(measure(scope, 0.01, true));
}

const f = (x: number, d = 3) => x.toFixed(d);
console.log(
  `cones concept file format — ${new Date().toISOString()}, Node ${process.version}, ${process.arch}`,
);
console.log(
  'bytes per index (B/i): codec = index streams only; file = whole .cones.safetensors (header + metadata)\n',
);
const header = [
  'scope'.padEnd(20),
  'set'.padEnd(9),
  'indices'.padStart(10),
  'codec B/i'.padStart(9),
  'file B/i'.padStart(9),
  'H(p)/p'.padStart(7),
  'int32'.padStart(6),
  'bitmap'.padStart(7),
  '×int32'.padStart(7),
  '×bitmap'.padStart(8),
  'file KiB'.padStart(9),
  'enc ms'.padStart(7),
  'dec ms'.padStart(7),
  'dec Mi/s'.padStart(8),
  '  codecs',
].join(' ');
console.log(header);
for (const r of rows) {
  console.log(
    [
      r.scope.padEnd(20),
      r.set.padEnd(9),
      r.indices.toLocaleString('en-US').padStart(10),
      f(r.streamBpi).padStart(9),
      f(r.fileBpi).padStart(9),
      (r.entropyBpi === null ? '—' : f(r.entropyBpi)).padStart(7),
      f(r.int32Bpi, 0).padStart(6),
      f(r.bitmapBpi, 2).padStart(7),
      `${f(r.vsInt32, 2)}×`.padStart(7),
      `${f(r.vsBitmap, 2)}×`.padStart(8),
      f(r.fileKiB, 1).padStart(9),
      f(r.encodeMs, 1).padStart(7),
      f(r.decodeMs, 1).padStart(7),
      f(r.decodeMIndexPerS, 1).padStart(8),
      `  ${r.codecs}`,
    ].join(' '),
  );
}
const target = (scope: string, set: string, limit: number) => {
  const r = rows.find((x) => x.scope === scope && x.set === set)!;
  return `${scope} ${set}: ${f(r.streamBpi)} B/index (target ≤ ${limit}) ${r.streamBpi <= limit ? 'OK' : 'MISSED'}`;
};
console.log(`\n${target('all attention K/V', '1.0%', 1.2)}\n${target('all attention K/V', '0.10%', 1.6)}`);
if (process.argv.includes('--json')) console.log(JSON.stringify(rows, null, 2));

// ─── Extraction (Algorithm A2) ──────────────────────────────────────────────────────────────────
// One extraction step = draw the batch + one training-graph call (loss and ∂L/∂ξ for every K/V weight
// in scope) + the ξ update, against one forward UNet call of the same batch (the sampling cost), on
// the tiny model, a mid-width model and (with --full) a full-width SD1 checkpoint of random fp16
// weights. Each case runs in its own process so its peak RSS is its own. Also: the cost of switching
// concepts (building the K/V masks of a 1 % concept), against one UNet call.

import type { ExtractionCase, ExtractionRow } from './cones-extraction.js';

async function extractionBench(): Promise<void> {
  const { execFileSync } = await import('node:child_process');
  const fullOnly = process.argv.includes('--full-only');
  const cases: ExtractionCase[] = fullOnly
    ? []
    : [
        { model: 'tiny', resolution: 64, batchSize: 1, runs: 5 },
        { model: 'tiny', resolution: 256, batchSize: 2, runs: 3 },
        { model: 'mid', resolution: 256, batchSize: 2, runs: 3 },
      ];
  if (process.argv.includes('--full') || fullOnly) {
    cases.push({ model: 'full', resolution: 256, batchSize: 2, runs: 1 });
    // #11 goal 3: 512 px, 2 + 2 samples, all-attention scope ≤ 10 GiB peak, step no slower than the
    // whole batch in one run (what extraction did before the activation budget split it).
    const big = {
      model: 'full',
      resolution: 512,
      batchSize: 2,
      runs: 1,
      scope: 'all',
      buildFirst: true,
    } as const;
    cases.push(big, { ...big, samplesPerRun: 4 });
  }
  console.log(
    '\ncones extraction — one A2 step vs one forward UNet call of the same batch (CPU, float32 graphs)',
  );
  console.log(
    [
      'model'.padEnd(6),
      'width'.padStart(5),
      'params'.padStart(8),
      'res'.padStart(4),
      'batch'.padStart(7),
      'scope'.padStart(6),
      'per run'.padStart(7),
      'build s'.padStart(8),
      'ready s'.padStart(8),
      'step ms'.padStart(9),
      'fwd ms'.padStart(9),
      'step/fwd'.padStart(8),
      'switch ms'.padStart(9),
      'steps peak'.padStart(10),
      'fwd peak'.padStart(9),
    ].join(' '),
  );
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const runCase = (c: ExtractionCase): ExtractionRow => {
    const out = execFileSync(
      process.execPath,
      [...process.execArgv, new URL('./cones-extraction.ts', import.meta.url).pathname, JSON.stringify(c)],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 24 },
    );
    return JSON.parse(out.trim().split('\n').pop()!);
  };
  const resolution = process.argv.indexOf('--resolution');
  const only = resolution > 0 ? Number(process.argv[resolution + 1]) : undefined;
  for (const c of cases) {
    if (only !== undefined && c.resolution !== only) continue;
    let row: ExtractionRow;
    // buildFirst cases: model + graphs built by one process, measured by a second one (a restart).
    const dir = c.buildFirst ? mkdtempSync(join(tmpdir(), 'cones-bench-extract-')) : undefined;
    try {
      let buildMs = 0;
      if (dir) buildMs = runCase({ ...c, dir, buildOnly: true }).buildMs;
      row = runCase({ ...c, dir });
      if (dir) row.buildMs = buildMs;
    } catch (error) {
      console.log(`${c.model} ${c.resolution}px: FAILED (${(error as Error).message.split('\n')[0]})`);
      continue;
    } finally {
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
    console.log(
      [
        row.model.padEnd(6),
        String(row.unetWidth).padStart(5),
        `${(row.parameters / 1e6).toFixed(1)}M`.padStart(8),
        String(row.resolution).padStart(4),
        `${row.batchSize}+${row.batchSize}`.padStart(7),
        (row.scope === 'all' ? 'all' : 'cross').padStart(6),
        String(row.perRun).padStart(7),
        (row.buildMs / 1000).toFixed(1).padStart(8),
        (row.readyMs / 1000).toFixed(1).padStart(8),
        row.stepMs.toFixed(1).padStart(9),
        row.forwardMs.toFixed(1).padStart(9),
        `${(row.stepMs / row.forwardMs).toFixed(2)}×`.padStart(8),
        row.switchMs.toFixed(2).padStart(9),
        `${(row.maxRssMiB / 1024).toFixed(2)} GiB`.padStart(10),
        `${(row.forwardRssMiB / 1024).toFixed(2)} GiB`.padStart(9),
      ].join(' '),
    );
  }
}

if (!process.argv.includes('--no-extraction')) await extractionBench();
