/**
 * `npm run demo:grid -- [checkpoint.safetensors] [options]` — the README's picture of the demo model:
 * a grid of toy-world prompts (rows) × seeds (columns), drawn through the project's own pipeline (the
 * runtime tasks behind CheckpointLoaderSimple → CLIPTextEncode → KSampler → VAEDecode, as the toy eval
 * draws), each row captioned with its prompt where sharp can draw text. Writes the PNG and, beside it,
 * a .txt naming the command, settings, prompts and seeds; prints the command and the time taken.
 *
 * The checkpoint defaults to the trained demo the package ships (assets/models/tiny-sd1-demo.safetensors).
 *
 * Options:
 *   --out FILE        the PNG (default docs/images/toy-demo-grid.png)
 *   --prompts N       the first N of the six prompts (default 6)
 *   --seeds N         columns: seeds 0 … N−1 (default 6)
 *   --steps N         sampling steps (default 20)
 *   --sampler S       sampler (default dpmpp_2m, as the examples)
 *   --scheduler S     scheduler (default normal)
 *   --cfg X           classifier-free guidance scale (default 5)
 *   --scale N         each 64 px tile drawn N× larger, nearest neighbour (default 2)
 *   --threads N, --provider P    ONNX Runtime threads and provider (the `run` command's flags)
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { parseArgs } from 'node:util';
import { WorkerRuntime } from '../src/runtime/worker-runtime.js';
import { DEMO_CHECKPOINT_NAME } from '../src/sd/tiny-model.js';
import { assetPath } from '../src/shared/assets.js';
import { intOption } from '../src/shared/option-values.js';
import { resolveRuntimeSettings } from '../src/shared/runtime-settings.js';
import { captionFor } from '../src/toy/caption.js';
import { gridLayout } from '../src/toy/eval/grid.js';
import { isHeldOut, type ToyObject } from '../src/toy/scene.js';
import type { BackgroundColour } from '../src/toy/vocabulary.js';
import { TOY_SIZE } from './toy-eval/evaluate.js';
import { samplingChoice } from './toy-eval/options.js';
import { gridPng } from './toy-eval/output.js';
import { type SamplingSettings, ToyPipeline } from './toy-eval/pipeline.js';

const ROOT = assetPath('..');
/** A path as the README would name it: relative to the repository when inside it. */
const shown = (path: string) => (path.startsWith(`${ROOT}${sep}`) ? relative(ROOT, path) : path);
const DEFAULT_OUT = join(ROOT, 'docs', 'images', 'toy-demo-grid.png');
const CAPTION_PX = 12;
const GAP_PX = 2;

/** Rows: every shape, object colour and background once, both sizes, all combinations seen in training. */
const ROWS: [Pick<ToyObject, 'size' | 'colour' | 'shape'>, BackgroundColour][] = [
  [{ size: 'large', colour: 'red', shape: 'circle' }, 'blue'],
  [{ size: 'small', colour: 'yellow', shape: 'square' }, 'black'],
  [{ size: 'large', colour: 'blue', shape: 'triangle' }, 'white'],
  [{ size: 'small', colour: 'purple', shape: 'cross' }, 'yellow'],
  [{ size: 'large', colour: 'orange', shape: 'star' }, 'green'],
  [{ size: 'small', colour: 'green', shape: 'ring' }, 'red'],
];

/** The rows' prompts in the training captions' own words ("a photo of a large red circle on a blue background"). */
function demoPrompts(): string[] {
  return ROWS.map(([object, background]) => {
    const full: ToyObject = { ...object, pattern: 'plain', x: 0.5, y: 0.5, extent: 0.5 };
    if (isHeldOut(full)) throw new Error(`demo row ${object.shape} is a held-out combination`);
    return captionFor({ background, objects: [full] }, 'full');
  });
}

interface GridOptions {
  checkpoint: string;
  out: string;
  prompts: string[];
  seeds: number[];
  sampling: SamplingSettings;
  scale: number;
  threads?: string;
  provider?: string;
}

function options(argv: string[]): GridOptions {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      out: { type: 'string' },
      prompts: { type: 'string' },
      seeds: { type: 'string' },
      steps: { type: 'string' },
      sampler: { type: 'string' },
      scheduler: { type: 'string' },
      cfg: { type: 'string' },
      scale: { type: 'string' },
      threads: { type: 'string' },
      provider: { type: 'string' },
    },
  });
  if (positionals.length > 1)
    throw new Error('usage: npm run demo:grid -- [checkpoint.safetensors] [options]');
  const checkpoint = resolve(positionals[0] ?? assetPath('models', DEMO_CHECKPOINT_NAME));
  if (!existsSync(checkpoint)) {
    throw new Error(
      `no checkpoint at ${checkpoint}` +
        (positionals[0]
          ? ''
          : ' (the trained demo is not in this package); give a path: npm run demo:grid -- <model.safetensors>'),
    );
  }
  const choice = samplingChoice(values, { samplerName: 'dpmpp_2m', scheduler: 'normal', cfg: 5 });
  const all = demoPrompts();
  return {
    checkpoint,
    out: resolve(values.out ?? DEFAULT_OUT),
    prompts: all.slice(0, intOption('prompts', values.prompts, all.length, 1, all.length)),
    seeds: Array.from({ length: intOption('seeds', values.seeds, 6, 1, 64) }, (_, i) => i),
    sampling: { steps: intOption('steps', values.steps, 20, 1, 1000), ...choice },
    scale: intOption('scale', values.scale, 2, 1, 8),
    threads: values.threads,
    provider: values.provider,
  };
}

/** An RGB tile (size × size) drawn `scale` times larger, each pixel a scale × scale block. */
function upscaleNearest(rgb: Uint8Array, size: number, scale: number): Uint8Array {
  if (scale === 1) return rgb;
  const side = size * scale;
  const out = new Uint8Array(side * side * 3);
  for (let y = 0; y < side; y++) {
    const sy = Math.floor(y / scale);
    for (let x = 0; x < side; x++) {
      const from = (sy * size + Math.floor(x / scale)) * 3;
      out.set(rgb.subarray(from, from + 3), (y * side + x) * 3);
    }
  }
  return out;
}

async function main(): Promise<number> {
  const started = performance.now();
  let parsed: GridOptions;
  try {
    parsed = options(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    return 2;
  }
  const command = `npm run demo:grid -- ${process.argv.slice(2).join(' ')}`.trim();
  const settings = resolveRuntimeSettings({ threads: parsed.threads, provider: parsed.provider });
  const runtime = new WorkerRuntime({ settings });
  try {
    const pipeline = await ToyPipeline.load(runtime, parsed.checkpoint);
    const rows: Uint8Array[][] = [];
    for (const prompt of parsed.prompts) {
      const t = performance.now();
      const images = await pipeline.generate(prompt, parsed.seeds, TOY_SIZE, parsed.sampling);
      rows.push(images.map((rgb) => upscaleNearest(rgb, TOY_SIZE, parsed.scale)));
      process.stderr.write(
        `${prompt}: ${parsed.seeds.length} images in ${((performance.now() - t) / 1000).toFixed(1)} s\n`,
      );
    }
    const layout = gridLayout({
      rows: rows.length,
      columns: parsed.seeds.length,
      tile: TOY_SIZE * parsed.scale,
      gap: GAP_PX,
      caption: CAPTION_PX,
    });
    const { png, captioned } = await gridPng(layout, rows, parsed.prompts);
    await mkdir(dirname(parsed.out), { recursive: true });
    await writeFile(parsed.out, png);
    const { steps, samplerName, scheduler, cfg } = parsed.sampling;
    const seconds = (performance.now() - started) / 1000;
    const caption = [
      `${shown(parsed.out)}: made by \`${command}\` in ${seconds.toFixed(1)} s`,
      `checkpoint: ${shown(parsed.checkpoint)}`,
      `sampling: ${steps} steps, ${samplerName}, ${scheduler}, CFG ${cfg}, empty negative prompt, ${TOY_SIZE}×${TOY_SIZE} px (tiles shown ${parsed.scale}×)`,
      `columns: seeds ${parsed.seeds.join(', ')}`,
      ...parsed.prompts.map((p, i) => `row ${i + 1}: ${p}`),
      captioned ? '' : '(sharp could not draw text here: the rows carry no captions)',
    ];
    const captionFile = parsed.out.replace(/\.png$/, '') + '.txt';
    await writeFile(captionFile, `${caption.filter(Boolean).join('\n')}\n`);
    process.stdout.write(`${caption[0]}\nwrote ${parsed.out} and ${captionFile}\n`);
    return 0;
  } finally {
    await runtime.close();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    console.error(error);
    process.exitCode = 1;
  },
);
