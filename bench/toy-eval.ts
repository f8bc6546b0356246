/**
 * `npm run eval:toy -- <checkpoint.safetensors> [options]` — measures a toy-world model (issue #13)
 * through the project's own pipeline (the runtime worker tasks behind CheckpointLoaderSimple →
 * CLIPTextEncode → KSampler → VAEDecode): VAE reconstruction of seeded toy scenes (training and
 * held-out combinations) and generation accuracy read back by the toy world's attribute reader.
 * Prints a Markdown report and writes report.md, report.json, grid.png, prompts.txt and
 * vae-examples.png into --out.
 *
 * Options:
 *   --quick            generation on 4 seen + 2 held-out prompts × 8 seeds (the VAE check stays whole)
 *   --out DIR          output folder (default: <checkpoint>.eval next to the checkpoint)
 *   --seeds N          seeds per prompt (default 100; --quick 8)
 *   --steps N          sampling steps (default 20)
 *   --sampler S        sampler (default euler)
 *   --scheduler S      scheduler (default normal)
 *   --cfg X            classifier-free guidance scale (default 5)
 *   --vae-scenes N     training-world scenes for the VAE check (default 200; half as many held-out)
 *   --grid-seeds N     columns of grid.png (default 16; --quick 8)
 *   --no-vae / --no-generation   skip a part
 *   --threads N, --provider P    ONNX Runtime threads and provider (the `run` command's flags)
 */
import { parseArgs } from 'node:util';
import { WorkerRuntime } from '../src/runtime/worker-runtime.js';
import { intOption } from '../src/shared/option-values.js';
import { resolveRuntimeSettings } from '../src/shared/runtime-settings.js';
import { FULL_EVAL, QUICK_EVAL, runToyEval, type ToyEvalOptions } from './toy-eval/evaluate.js';
import { samplingChoice } from './toy-eval/options.js';
import { markdownReport, writeToyEvalOutputs } from './toy-eval/output.js';

function options(argv: string[]): { eval: ToyEvalOptions; out: string; threads?: string; provider?: string } {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      quick: { type: 'boolean' },
      out: { type: 'string' },
      seeds: { type: 'string' },
      steps: { type: 'string' },
      sampler: { type: 'string' },
      scheduler: { type: 'string' },
      cfg: { type: 'string' },
      'vae-scenes': { type: 'string' },
      'grid-seeds': { type: 'string' },
      'no-vae': { type: 'boolean' },
      'no-generation': { type: 'boolean' },
      threads: { type: 'string' },
      provider: { type: 'string' },
    },
  });
  if (positionals.length !== 1)
    throw new Error('usage: npm run eval:toy -- <checkpoint.safetensors> [options]');
  const checkpoint = positionals[0];
  const base = values.quick ? QUICK_EVAL : FULL_EVAL;
  const choice = samplingChoice(values, base.sampling);
  const vaeScenes = values['no-vae'] ? 0 : intOption('vae-scenes', values['vae-scenes'], base.vaeScenes);
  const generate = !values['no-generation'];
  return {
    eval: {
      ...base,
      checkpoint,
      vaeScenes,
      heldOutVaeScenes: Math.ceil(vaeScenes / 2),
      seenPrompts: generate ? base.seenPrompts : 0,
      heldOutPrompts: generate ? base.heldOutPrompts : 0,
      seeds: intOption('seeds', values.seeds, base.seeds),
      gridSeeds: intOption('grid-seeds', values['grid-seeds'], base.gridSeeds),
      sampling: { steps: intOption('steps', values.steps, base.sampling.steps), ...choice },
      log: (line) => process.stderr.write(`${line}\n`),
    },
    out: values.out ?? `${checkpoint.replace(/\.safetensors$/, '')}.eval`,
    threads: values.threads,
    provider: values.provider,
  };
}

async function main(): Promise<number> {
  const started = performance.now();
  let parsed: ReturnType<typeof options>;
  try {
    parsed = options(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    return 2;
  }
  const settings = resolveRuntimeSettings({ threads: parsed.threads, provider: parsed.provider });
  const runtime = new WorkerRuntime({ settings });
  try {
    const result = await runToyEval(runtime, parsed.eval);
    const files = await writeToyEvalOutputs(parsed.out, result);
    process.stdout.write(markdownReport(result.report));
    process.stderr.write(
      `\nwrote ${files.join(', ')}\nwhole eval: ${((performance.now() - started) / 1000).toFixed(1)} s wall\n`,
    );
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
