/**
 * `npm run eval:cones -- [checkpoint.safetensors] [options]` — Cones in the toy world (issue #12):
 * Extract Concept on toy-world subjects (src/toy/subjects.ts), then subject fidelity, text alignment,
 * prior kept, multi-subject merges and sparsity sweeps read back by the toy attribute reader, with a
 * random-mask and a class-prompt control and the subject loss against A2's prediction. Everything runs
 * through the runtime worker tasks the nodes use. Prints the Markdown report and writes report.md,
 * report.json, grid.png and rows.txt into --out. Without a checkpoint it runs on the random-weight demo
 * model. On random weights (the demo, any make-tiny-model file) the report says every number is meaningless.
 *
 * Options:
 *   --quick              smoke run (2 subjects, 12 seeds, 50 extraction steps, small sweeps): ≤ 10 min on 2 CPU cores with the demo model
 *   --out DIR            output folder (default: <checkpoint>.cones-eval next to the checkpoint)
 *   --seeds N            seeds per condition (default 128; --quick 12), also for the sweeps
 *   --steps N            Extract Concept steps of the main extractions (default 1000; --quick 50)
 *   --lr X               Extract Concept's ρ (default 2e-5, the paper's)
 *   --top-fraction X     share of the scope kept as concept neurons (default 0.01)
 *   --prior-weight X     λ on the prior-preservation loss (default 1; 0: no prior images)
 *   --scope S            cross | all: the main extractions' scope (default cross-attention K/V)
 *   --strength X         Apply Concept Mask strength for the fidelity conditions (default 1: shut)
 *   --rounds N           repeated extraction after shutting: N rounds of --steps, each adding top-fraction/N
 *                        (default 1, the paper's A2; with N > 1 the sparsity sweeps are skipped)
 *   --prompt-template T  Extract Concept's training prompt with {identifier} and {class} (default "photo of a {identifier} {class}", the paper's)
 *   --prior-cfg X        guidance of the generated prior images (default 7.5)
 *   --subjects a,b,…     subject names (default all; --quick green-dotted-star,red-striped-square)
 *   --sweep-subjects N   how many of them get the sparsity sweeps (0: none)
 *   --refine-steps N     merge refinement steps (default 300; --quick 10)
 *   --sampling-steps N   image sampling steps (default 20)
 *   --cfg X              guidance scale (default 5)
 *   --no-pairs           skip the multi-subject part (default: the preset pairs among --subjects, else the first two that fit a frame)
 *   --cache DIR          extraction cache (results, resume checkpoints, priors; default <out>/cache)
 *   --threads N, --provider P   ONNX Runtime threads and provider (the `run` command's flags)
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type ExtractSettings, MAX_ROUNDS, PRIOR_CFG_RANGE } from '../src/cones/extract/protocol.js';
import { WorkerRuntime } from '../src/runtime/worker-runtime.js';
import { openCheckpoint } from '../src/sd/checkpoint/checkpoint.js';
import { ensureDemoCheckpoint } from '../src/sd/tiny-model.js';
import { intOption, numberOption } from '../src/shared/option-values.js';
import { resolveRuntimeSettings } from '../src/shared/runtime-settings.js';
import { subjectByName } from '../src/toy/subjects.js';
import { type ConesEvalOptions, runConesEval } from './cones-eval/experiment.js';
import { markdownReport, writeConesEvalOutputs } from './cones-eval/output.js';
import { type ConesEvalSettings, FULL_CONES_EVAL, QUICK_CONES_EVAL } from './cones-eval/settings.js';

/** The preset pairs among the chosen subjects; failing those, the first two that fit one frame together. */
function pairsFor(subjects: string[], preset: [string, string][]): [string, string][] {
  const chosen = preset.filter(([a, b]) => subjects.includes(a) && subjects.includes(b));
  if (chosen.length > 0) return chosen;
  for (const [i, a] of subjects.entries()) {
    for (const b of subjects.slice(i + 1)) {
      if (subjectByName(a).size === 'small' || subjectByName(b).size === 'small') return [[a, b]];
    }
  }
  return [];
}

interface Parsed {
  checkpoint?: string;
  out?: string;
  cache?: string;
  settings: ConesEvalSettings;
  threads?: string;
  provider?: string;
}

function options(argv: string[]): Parsed {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      quick: { type: 'boolean' },
      out: { type: 'string' },
      seeds: { type: 'string' },
      steps: { type: 'string' },
      lr: { type: 'string' },
      'top-fraction': { type: 'string' },
      'prior-weight': { type: 'string' },
      scope: { type: 'string' },
      strength: { type: 'string' },
      rounds: { type: 'string' },
      'prompt-template': { type: 'string' },
      'prior-cfg': { type: 'string' },
      subjects: { type: 'string' },
      'sweep-subjects': { type: 'string' },
      'refine-steps': { type: 'string' },
      'sampling-steps': { type: 'string' },
      cfg: { type: 'string' },
      'no-pairs': { type: 'boolean' },
      cache: { type: 'string' },
      threads: { type: 'string' },
      provider: { type: 'string' },
    },
  });
  if (positionals.length > 1)
    throw new Error('usage: npm run eval:cones -- [checkpoint.safetensors] [options]');
  const base = values.quick ? QUICK_CONES_EVAL : FULL_CONES_EVAL;
  const subjects = values.subjects ? values.subjects.split(',').map((s) => s.trim()) : base.subjects;
  for (const s of subjects) subjectByName(s);
  const seeds = intOption('seeds', values.seeds, base.seeds);
  const cfg = numberOption('cfg', values.cfg, base.sampling.cfg, { min: 0 });
  const steps = intOption('steps', values.steps, base.extraction.steps ?? 1000);
  const extraction: Partial<ExtractSettings> = { ...base.extraction, steps };
  const positiveUpTo = (max: number) => ({ min: 0, exclusiveMin: true, max });
  if (values.lr !== undefined) extraction.learningRate = numberOption('lr', values.lr, 0, positiveUpTo(1e6));
  if (values['top-fraction'] !== undefined)
    extraction.topFraction = numberOption('top-fraction', values['top-fraction'], 0, positiveUpTo(1));
  if (values['prior-weight'] !== undefined) {
    const lambda = numberOption('prior-weight', values['prior-weight'], 0, { min: 0 });
    extraction.priorLossWeight = lambda;
    if (lambda === 0) extraction.priorCount = 0;
  }
  if (values.scope !== undefined) {
    if (values.scope !== 'cross' && values.scope !== 'all')
      throw new Error(`--scope must be cross or all, got '${values.scope}'`);
    extraction.scope = values.scope === 'all' ? 'all attention K/V' : 'cross-attention K/V';
  }
  const rounds = intOption('rounds', values.rounds, 1, 1, MAX_ROUNDS);
  if (rounds > 1) extraction.rounds = rounds;
  if (values['prompt-template'] !== undefined) extraction.promptTemplate = values['prompt-template'];
  if (values['prior-cfg'] !== undefined)
    extraction.priorCfg = numberOption('prior-cfg', values['prior-cfg'], 0, PRIOR_CFG_RANGE);
  const strength = numberOption('strength', values.strength, base.strength, positiveUpTo(1));
  const pairs = values['no-pairs'] ? [] : pairsFor(subjects, base.pairs);
  const settings: ConesEvalSettings = {
    ...base,
    subjects,
    seeds,
    sampling: {
      ...base.sampling,
      cfg,
      steps: intOption('sampling-steps', values['sampling-steps'], base.sampling.steps),
    },
    extraction,
    strength,
    sweep: {
      ...base.sweep,
      subjects: Math.min(
        rounds > 1 ? 0 : subjects.length,
        intOption('sweep-subjects', values['sweep-subjects'], base.sweep.subjects, 0),
      ),
      seeds: values.seeds === undefined ? base.sweep.seeds : seeds,
      // The step sweep ends at the main extraction's steps, so that point is shared with the main figures.
      steps: [...new Set([...base.sweep.steps.filter((k) => k < steps), steps])],
    },
    pairs,
    refineSteps: intOption('refine-steps', values['refine-steps'], base.refineSteps),
  };
  return {
    checkpoint: positionals[0],
    out: values.out,
    cache: values.cache,
    settings,
    threads: values.threads,
    provider: values.provider,
  };
}

async function main(): Promise<number> {
  const started = performance.now();
  let parsed: Parsed;
  try {
    parsed = options(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    return 2;
  }
  const checkpoint = parsed.checkpoint ?? (await ensureDemoCheckpoint(join(tmpdir(), 'cones-eval-demo')));
  const file = await openCheckpoint(checkpoint);
  const demo = file.randomWeights;
  await file.close();
  if (demo) {
    process.stderr.write(
      `${parsed.checkpoint === undefined ? 'no checkpoint given: running on the demo model' : 'the checkpoint says its weights are random:'} ${checkpoint}; every number is meaningless\n`,
    );
  }
  const out = parsed.out ?? `${checkpoint.replace(/\.safetensors$/, '')}.cones-eval`;
  const eval_: ConesEvalOptions = {
    checkpoint,
    demo,
    settings: parsed.settings,
    cacheDir: parsed.cache ?? join(out, 'cache'),
    log: (line) => process.stderr.write(`${line}\n`),
  };
  const settings = resolveRuntimeSettings({ threads: parsed.threads, provider: parsed.provider });
  const runtime = new WorkerRuntime({ settings });
  try {
    const result = await runConesEval(runtime, eval_);
    const files = await writeConesEvalOutputs(out, result);
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
