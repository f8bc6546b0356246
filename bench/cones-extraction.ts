/**
 * One extraction benchmark case of `npm run bench:cones` (run as its own process so its peak RSS is
 * its own): `tsx bench/cones-extraction.ts '<ExtractionCase JSON>'` prints one JSON ExtractionRow.
 */

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export interface ExtractionCase {
  model: 'tiny' | 'mid' | 'full';
  resolution: number;
  /** Instance samples per step (plus as many prior samples). */
  batchSize: number;
  runs: number;
  /** K/V scope of the training graph (default cross-attention). */
  scope?: 'cross-attention' | 'all';
  /** Samples per training run (default: the pipeline's activation-budget rule, trainingSamplesPerRun). */
  samplesPerRun?: number;
  /**
   * Write the model and build the graphs in a separate process first, so the measuring process's peak
   * RSS and first-step wait are those of a server restarted on a warm graph cache.
   */
  buildFirst?: boolean;
  /** Work folder shared by the build and the measuring process (default: a fresh temp folder). */
  dir?: string;
  /** Only write the model and build the graphs, then stop. */
  buildOnly?: boolean;
}

export interface ExtractionRow extends ExtractionCase {
  parameters: number;
  unetWidth: number;
  buildMs: number;
  /** Training graph + session ready (what the first step waits for on a loaded model). */
  readyMs: number;
  /** Samples per training run actually used. */
  perRun: number;
  stepMs: number;
  forwardMs: number;
  switchMs: number;
  /** Peak RSS of the process up to the end of the extraction steps. */
  maxRssMiB: number;
  /** Peak RSS while the forward UNet (the sampling session that replaces the training one) ran. */
  forwardRssMiB: number;
}

/** VmHWM (peak RSS) in MiB; resettable on Linux through /proc/self/clear_refs. */
async function peakRssMiB(): Promise<number> {
  const { readFileSync } = await import('node:fs');
  try {
    const kib = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
    if (kib !== undefined) return Number(kib) / 1024;
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS / 1024;
}

async function resetPeakRss(): Promise<void> {
  const { writeFileSync } = await import('node:fs');
  try {
    writeFileSync('/proc/self/clear_refs', '5');
  } catch {
    // not Linux: the forward's peak then includes the steps'
  }
}

export async function extractionCase(c: ExtractionCase): Promise<ExtractionRow> {
  const { existsSync, mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { writeTinyModel, TINY_SD1_CONFIG } = await import('../src/sd/tiny-model.js');
  const { cloneConfig } = await import('../src/sd/config.js');
  const { LoadedModel } = await import('../src/sd/pipeline/loaded-model.js');
  const { kvShapesFromCheckpoint } = await import('../src/cones/layers.js');
  const { runA2 } = await import('../src/cones/extract/a2.js');
  const { drawBatch } = await import('../src/cones/extract/data.js');
  const { StepRandom } = await import('../src/cones/extract/rng.js');
  const { applyConceptMask } = await import('../src/cones/apply.js');
  const { kvMasks } = await import('../src/sd/pipeline/kv-patches.js');
  const { modelFromCheckpoint } = await import('../src/sd/pipeline/values.js');

  const dir = c.dir ?? mkdtempSync(join(tmpdir(), 'cones-bench-extract-'));
  try {
    const path = join(dir, `${c.model}.safetensors`);
    const mid = cloneConfig(TINY_SD1_CONFIG);
    Object.assign(mid.unet, {
      modelChannels: 128,
      contextDim: 256,
      numHeads: 4,
      normGroups: 32,
      timeEmbedDim: 512,
    });
    Object.assign(mid.text, { width: 256, layers: 4, numHeads: 4, mlpDim: 1024 });
    Object.assign(mid.vae, { baseChannels: 32, normGroups: 32 });
    const options =
      c.model === 'full' ? { full: true, dtype: 'F16' as const } : c.model === 'mid' ? { config: mid } : {};
    if (!existsSync(path)) await writeTinyModel(path, options);
    // The pipeline's own model and session settings (src/sd/pipeline/loaded-model.ts): the training
    // graph maps its weights, has no CPU arena, and replaces the sampling UNet (one copy of the weights).
    const m = await LoadedModel.open(path, {
      graphCacheDir: join(dir, 'onnx'),
      dtype: 'float32',
      executionProvider: 'cpu',
      maxShapes: 8,
      log: () => {},
    });
    const ckpt = m.checkpoint;
    const parameters = ckpt.keys.reduce((n, k) => n + ckpt.shapeOf(k).reduce((a, b) => a * b, 1), 0);
    const { training } = m.extraction();
    const side = c.resolution / 8;
    const B = 2 * c.batchSize;
    const kvScope = c.scope ?? 'cross-attention';
    const scope = kvScope === 'all' ? ('all attention K/V' as const) : ('cross-attention K/V' as const);
    const shape = { batch: B, height: side, width: side, scope: kvScope, samplesPerRun: c.samplesPerRun };
    const t0 = performance.now();
    const train = await training.training(shape);
    const readyMs = performance.now() - t0;
    const forward = () =>
      m.unet({
        sample: new Float32Array(B * 4 * side * side),
        timestep: new Float32Array(B).fill(500),
        context: new Float32Array(B * 77 * ckpt.config.unet.contextDim),
        batch: B,
        contextLength: 77,
        height: side,
        width: side,
        kvMode: kvScope,
      });
    if (c.buildOnly) {
      await forward();
      await m.release();
      return {
        ...c,
        parameters,
        unetWidth: 0,
        buildMs: readyMs,
        readyMs,
        perRun: train.samplesPerRun,
        stepMs: 0,
        forwardMs: 0,
        switchMs: 0,
        maxRssMiB: await peakRssMiB(),
        forwardRssMiB: 0,
      };
    }
    const shapes = kvShapesFromCheckpoint(scope, ckpt);
    const keys = [...shapes.keys()];
    const latentSize = 4 * side * side;
    const D = ckpt.config.unet.contextDim;
    const r = new StepRandom(1, 0, 'bench');
    const set = () => ({ mean: r.fillNormal(new Float32Array(2 * latentSize)), count: 2, scaled: true });
    const data = {
      instance: set(),
      prior: set(),
      instanceContext: r.fillNormal(new Float32Array(77 * D)),
      priorContext: r.fillNormal(new Float32Array(77 * D)),
    };
    const o = { batchSize: c.batchSize, priorLossWeight: 1, hflip: false, latentSize, contextSize: 77 * D };
    const stepTimes: number[] = [];
    let last = performance.now();
    await runA2({
      keys,
      sizes: new Map(keys.map((k) => [k, shapes.get(k)![0] * shapes.get(k)![1]] as const)),
      steps: c.runs + 1,
      learningRate: 2e-5,
      lossAndGrads: (step, xi) => train.run({ ...drawBatch(data, new StepRandom(0, step), o), xi }),
      onStep: () => {
        const now = performance.now();
        stepTimes.push(now - last);
        last = now;
      },
    });
    const stepsRssMiB = await peakRssMiB();
    await resetPeakRss();
    // The forward UNet (same batch) replaces the training session (LoadedModel keeps one copy).
    const forwardTimes: number[] = [];
    for (let i = 0; i < c.runs + 1; i++) {
      const s = performance.now();
      await forward();
      forwardTimes.push(performance.now() - s);
    }
    // Switching concepts: a 1 % random concept → the UNet's mask inputs (what a sample call does).
    const indices = new Map<string, number[]>();
    for (const [key, [rows, cols]] of shapes) {
      const picked: number[] = [];
      for (let i = 0; i < rows * cols; i++) if (r.uniform() < 0.01) picked.push(i);
      indices.set(key, picked);
    }
    const { createConcept } = await import('../src/cones/concept.js');
    const concept = createConcept({
      identifier: 'sks',
      class_noun: 'dog',
      base_model: { fingerprint: ckpt.fingerprint, architecture: 'sd1' },
      scope,
      shapes,
      indices,
      origin: {
        kind: 'extracted',
        hyper_parameters: {
          steps: 1,
          learning_rate: 1,
          selection: 'threshold',
          threshold: 0,
          batch_size: 1,
          prior_loss_weight: 1,
          resolution: 64,
          seed: 0,
        },
      },
    });
    const model = modelFromCheckpoint(m.handle);
    const switchTimes: number[] = [];
    for (let i = 0; i < 5; i++) {
      const s = performance.now();
      kvMasks(applyConceptMask(model, concept).patches, shapes);
      switchTimes.push(performance.now() - s);
    }
    await m.release();
    const med = (xs: number[]) => median(xs.slice(1).length ? xs.slice(1) : xs);
    return {
      ...c,
      parameters,
      unetWidth: ckpt.config.unet.modelChannels,
      buildMs: readyMs,
      readyMs,
      perRun: train.samplesPerRun,
      stepMs: med(stepTimes),
      forwardMs: med(forwardTimes),
      switchMs: median(switchTimes),
      maxRssMiB: stepsRssMiB,
      forwardRssMiB: await peakRssMiB(),
    };
  } finally {
    if (!c.dir) rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2]) console.log(JSON.stringify(await extractionCase(JSON.parse(process.argv[2]))));
