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
  /**
   * Build the graphs in a separate process first (the in-process build leaves the fp32 weights in the
   * JS heap) and run the sessions without ORT's CPU arena and memory pattern.
   */
  lowMemory?: boolean;
  /** Work folder shared by the build and the measuring process (default: a fresh temp folder). */
  dir?: string;
  /** Only write the model and build the graphs, then stop. */
  buildOnly?: boolean;
}

export interface ExtractionRow extends ExtractionCase {
  parameters: number;
  unetWidth: number;
  buildMs: number;
  stepMs: number;
  forwardMs: number;
  switchMs: number;
  maxRssMiB: number;
}

export async function extractionCase(c: ExtractionCase): Promise<ExtractionRow> {
  const { existsSync, mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { writeTinyModel, TINY_SD1_CONFIG } = await import('../src/sd/tiny-model.js');
  const { cloneConfig } = await import('../src/sd/config.js');
  const { openCheckpoint } = await import('../src/sd/checkpoint/checkpoint.js');
  const { loadSd1Sessions } = await import('../src/sd/graphs/sessions.js');
  const { kvShapesFromCheckpoint } = await import('../src/cones/layers.js');
  const { runA2 } = await import('../src/cones/extract/a2.js');
  const { drawBatch } = await import('../src/cones/extract/data.js');
  const { StepRandom } = await import('../src/cones/extract/rng.js');
  const { applyConceptMask } = await import('../src/cones/apply.js');
  const { kvMasks } = await import('../src/sd/pipeline/kv-patches.js');
  const { handleOf } = await import('../src/sd/pipeline/loaded-model.js');
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
    const ckpt = await openCheckpoint(path);
    const parameters = ckpt.keys.reduce((n, k) => n + ckpt.shapeOf(k).reduce((a, b) => a * b, 1), 0);
    const sessions = loadSd1Sessions(ckpt, join(dir, 'onnx'), {
      session: { executionProvider: 'cpu', ...(c.lowMemory ? { cpuArena: false, memPattern: false } : {}) },
    });
    const side = c.resolution / 8;
    const B = 2 * c.batchSize;
    const scope = 'cross-attention K/V' as const;
    const t0 = performance.now();
    const train = await sessions.training({ batch: B, height: side, width: side, scope: 'cross-attention' });
    const buildMs = performance.now() - t0;
    if (c.buildOnly) {
      await sessions.unet({ batch: B, height: side, width: side, kvMode: 'cross-attention' });
      await sessions.release();
      await ckpt.close();
      return {
        ...c,
        parameters,
        unetWidth: 0,
        buildMs,
        stepMs: 0,
        forwardMs: 0,
        switchMs: 0,
        maxRssMiB: process.resourceUsage().maxRSS / 1024,
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
    await sessions.release(); // the forward UNet gets the memory the training session held
    const unet = await sessions.unet({ batch: B, height: side, width: side, kvMode: 'cross-attention' });
    const b = drawBatch(data, new StepRandom(0, 0), o);
    const forwardTimes: number[] = [];
    for (let i = 0; i < c.runs + 1; i++) {
      const s = performance.now();
      await unet.run({ sample: b.latents, timestep: b.timestep, context: b.context });
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
    const model = modelFromCheckpoint(handleOf(ckpt));
    const switchTimes: number[] = [];
    for (let i = 0; i < 5; i++) {
      const s = performance.now();
      kvMasks(applyConceptMask(model, concept).patches, shapes);
      switchTimes.push(performance.now() - s);
    }
    await sessions.release();
    await ckpt.close();
    const med = (xs: number[]) => median(xs.slice(1).length ? xs.slice(1) : xs);
    return {
      ...c,
      parameters,
      unetWidth: ckpt.config.unet.modelChannels,
      buildMs,
      stepMs: med(stepTimes),
      forwardMs: med(forwardTimes),
      switchMs: median(switchTimes),
      maxRssMiB: process.resourceUsage().maxRSS / 1024,
    };
  } finally {
    if (!c.dir) rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2]) console.log(JSON.stringify(await extractionCase(JSON.parse(process.argv[2]))));
