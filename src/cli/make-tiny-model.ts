/**
 * `cones-nodes make-tiny-model <out.safetensors> [--seed N] [--full] [--fp16|--bf16] [--diffusers]`
 * Writes an SD1-architecture checkpoint with random weights (tests, demos, benchmarks).
 */
import { openCheckpoint } from '../sd/checkpoint/checkpoint.js';
import { type TinyModelDtype, writeTinyModel } from '../sd/tiny-model.js';
import { intOption } from '../shared/option-values.js';
import { parseCommandArgs, usageError } from './args.js';

export const usage = `Usage: cones-nodes make-tiny-model <out.safetensors | out-folder> [options]

Writes a Stable Diffusion 1.x checkpoint (UNet + VAE + CLIP text encoder, SD1's exact block
structure, LDM key layout) filled with RANDOM weights from a seeded PRNG. It produces noise-like
images: use it for tests, demos and benchmarks, never as a real model.

Options:
  --seed N       PRNG seed (default 0); same seed, same file
  --full         real SD1 widths (~1.07 B parameters; for benchmarks; streamed to disk)
  --fp16         store F16 (default F32)
  --bf16         store BF16
  --diffusers    write a diffusers folder (unet/, vae/, text_encoder/, model_index.json)
  -h, --help     this text`;

export async function run(argv: string[]): Promise<number> {
  const parsed = parse(argv);
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  if (positionals.length !== 1) return usageError('make-tiny-model', 'expected one output path', usage);
  let seed: number;
  try {
    seed = intOption('seed', values.seed, 0, 0, 0xffffffff);
  } catch (error) {
    console.error(`make-tiny-model: ${(error as Error).message}`);
    return 2;
  }
  if (values.fp16 && values.bf16) {
    console.error('make-tiny-model: choose one of --fp16 and --bf16');
    return 2;
  }
  const dtype: TinyModelDtype = values.fp16 ? 'F16' : values.bf16 ? 'BF16' : 'F32';
  const out = positionals[0];
  const started = performance.now();
  const result = await writeTinyModel(out, {
    seed,
    full: values.full,
    dtype,
    layout: values.diffusers ? 'diffusers' : 'single-file',
  });
  const seconds = (performance.now() - started) / 1000;
  const checkpoint = await openCheckpoint(out);
  await checkpoint.close();
  console.log(
    `wrote ${out}: ${values.full ? 'full-size' : 'tiny'} SD1 with random weights (seed ${seed}, ${dtype}), ` +
      `${result.parameters.toLocaleString('en-US')} parameters, ${(result.bytes / 2 ** 20).toFixed(1)} MiB, ` +
      `fingerprint ${checkpoint.fingerprint}, ${seconds.toFixed(1)} s`,
  );
  return 0;
}

function parse(argv: string[]) {
  return parseCommandArgs('make-tiny-model', usage, {
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      seed: { type: 'string' },
      full: { type: 'boolean', default: false },
      fp16: { type: 'boolean', default: false },
      bf16: { type: 'boolean', default: false },
      diffusers: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
}
