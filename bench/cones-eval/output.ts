/**
 * The Cones evaluation's outputs: the Markdown report (printed and saved as report.md), report.json,
 * and grid.png (rows: each subject's photos, the base model, the concept applied; then each merged
 * pair) with rows.txt naming the rows. The grid is drawn by the toy eval's own grid writer.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gridLayout } from '../../src/toy/eval/grid.js';
import { gridPng } from '../toy-eval/output.js';
import type { Condition, ConesEvalReport, ConesEvalResult } from './experiment.js';
import { type Share, SUBJECT_ATTRIBUTES } from './stats.js';

const GOAL = { fidelity: 0.8, baseRate: 0.2, backgroundPoints: 0.1, tv: 0.1, both: 0.5 };

const p1 = (s: Share) => `${(s.p * 100).toFixed(1)} ± ${(s.se * 100).toFixed(1)}`;
const signed = (x: number) => (Number.isNaN(x) ? '–' : `${x >= 0 ? '+' : ''}${x.toPrecision(3)}`);
const yes = (ok: boolean) => (ok ? 'yes' : '**no**');

function kib(bytes: number): string {
  return bytes < 10_240 ? `${bytes} B` : `${(bytes / 1024).toFixed(1)} KiB`;
}

function headline(r: ConesEvalReport): string[] {
  const lines = [
    '| subject | held out | base rate | concept | random mask | class prompt + concept | attributes spelled out | background: base → concept | prior TV (same class / other; noise floor) |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const s of r.subjects) {
    const [base, concept, random, classOnly, spelled] = s.fidelity;
    const tv = s.prior.map((p) => p.tv.mean.toFixed(3)).join(' / ');
    const floor = s.prior.map((p) => p.noiseFloor.toFixed(3)).join(' / ');
    lines.push(
      `| ${s.subject.name} ("${s.subject.identifier} ${s.extraction.classNoun}") | ${s.heldOut ? 'yes' : 'no'} | ${p1(base.subject)} | ${p1(concept.subject)} | ${p1(random.subject)} | ${p1(classOnly.subject)} | ${p1(spelled.subject)} | ${p1(base.background)} → ${p1(concept.background)} | ${tv} (${floor}) |`,
    );
  }
  return lines;
}

const p0 = (s: Share) => (s.p * 100).toFixed(0);

function conditions(list: Condition[]): string[] {
  return [
    '| condition | prompt | subject correct (%) | background correct (%) | shape / colour / size / pattern right (%) |',
    '|---|---|---:|---:|---:|',
    ...list.map(
      (c) =>
        `| ${c.label} | ${c.prompt} | ${p1(c.subject)} | ${p1(c.background)} | ${SUBJECT_ATTRIBUTES.map((a) => p0(c.attributes[a])).join(' / ')} |`,
    ),
  ];
}

function goals(r: ConesEvalReport): string[] {
  const lines = [
    '| subject | fidelity ≥ 80 % where base ≤ 20 % | background within 10 points | prior TV ≤ 0.1 |',
    '|---|---|---|---|',
  ];
  for (const s of r.subjects) {
    const [base, concept] = s.fidelity;
    const fid =
      base.subject.p <= GOAL.baseRate ? yes(concept.subject.p >= GOAL.fidelity) : 'base rate > 20 %';
    const bg = yes(Math.abs(concept.background.p - base.background.p) <= GOAL.backgroundPoints);
    const tv = yes(s.prior.every((p) => p.tv.mean <= GOAL.tv));
    lines.push(`| ${s.subject.name} | ${fid} | ${bg} | ${tv} |`);
  }
  for (const p of r.pairs) {
    lines.push(
      `| ${p.subjects.join(' + ')} | both correct ≥ 50 %: ${yes(p.refined.p >= GOAL.both || p.union.p >= GOAL.both)} | refined better than union: ${yes(p.refined.p > p.union.p)} | |`,
    );
  }
  return lines;
}

export function markdownReport(r: ConesEvalReport): string {
  const s = r.settings;
  const g = s.sampling;
  const lines = [`# Cones in the toy world: ${r.checkpoint}`, ''];
  if (r.demo) {
    lines.push(
      '> **Random-weight model (the demo): every number below is meaningless** (it shows the harness',
      '> runs end to end, nothing about Cones). Pass a trained toy checkpoint for real figures.',
      '',
    );
  }
  lines.push(
    `${r.date}; fingerprint ${r.fingerprint.slice(0, 16)}; UNet width ${r.model.modelChannels}, ${(r.model.parameterCount / 1e6).toFixed(2)} M parameters in the file; wall time ${r.wallSeconds.toFixed(1)} s ` +
      `(${r.imagesGenerated} images in ${r.generationSeconds.toFixed(1)} s of generation).`,
    `Images: ${g.samplerName} / ${g.scheduler}, CFG ${g.cfg}, ${g.steps} steps, empty negative prompt, 64 px, ${s.seeds} seeds a condition ` +
      '(seed i, background rotating over the backgrounds that are not the subject colour); read back by the toy attribute reader ' +
      '(src/toy/read.ts, hand-written, never tuned on these images). A subject is correct when the largest read object has all ' +
      'four attributes (shape, colour, size, pattern). Shares are % ± one binomial standard error.',
    '',
    '## Subject fidelity, text alignment and prior kept',
    '',
    ...headline(r),
    '',
    'Prior TV: mean over shape, colour, size, pattern and background of the total-variation distance between the',
    'attribute distributions (largest read object) for "photo of a {class}" (and of the next shape) with and',
    'without the concept, same seeds; the noise floor is the base model against itself on other seeds.',
    '',
    "## Goals (the paper's claims)",
    '',
    ...goals(r),
    '',
  );
  for (const sub of r.subjects) {
    const e = sub.extraction;
    lines.push(
      `## ${sub.subject.name}${sub.heldOut ? ' (held out of training)' : ''}`,
      '',
      `Extract Concept: identifier "${e.identifier}", class "${e.classNoun}", ${e.steps} steps${e.rounds > 1 ? ` × ${e.rounds} rounds (repeated after shutting)` : ''}, ρ ${e.learningRate}, ` +
        `top ${e.topFraction * 100} %, ${e.scope}, training prompt "${e.instancePrompt}", ${e.priorCount} prior images from the model at CFG ${e.priorCfg}; ` +
        `${e.cached ? 'cached' : `${e.seconds.toFixed(1)} s`}; loss first/last step ${e.firstLoss?.toPrecision(4) ?? '–'} / ${e.lastLoss?.toPrecision(4) ?? '–'}; ` +
        `M_p > 0 for ${(e.positiveShare * 100).toFixed(1)} % of the ${e.parameters.toLocaleString('en-US')} searched weights; ` +
        `${e.neurons.toLocaleString('en-US')} concept neurons, file ${kib(e.fileBytes)}.` +
        (s.strength === 1 ? '' : ` Applied at strength ${s.strength} (neurons scaled by ${1 - s.strength}).`),
      '',
      ...conditions(sub.fidelity),
      '',
      `Subject loss (ε-MSE on the extraction's own latents, σ levels ${s.probe.levels.join('/')} × ${s.probe.seeds} noise seeds): base subject ${sub.loss.base.subject.toPrecision(4)}, ` +
        `prior ${sub.loss.base.prior?.toPrecision(4) ?? '–'}, objective (subject + λ·prior) ${sub.loss.base.objective.toPrecision(4)}. ` +
        "Change when the neurons are scaled by 1 − strength, measured vs. A2's first-order prediction (−strength·Σ M_p / K):",
      '',
      '| top fraction | strength | neurons | Δ objective measured | Δ predicted | Δ subject loss | Δ objective, random mask |',
      '|---:|---:|---:|---:|---:|---:|---:|',
      ...sub.loss.rows.map(
        (row) =>
          `| ${row.topFraction * 100} % | ${row.strength} | ${row.neurons} | ${signed(row.measured)} | ${signed(row.predicted)} | ${signed(row.measuredSubject)} | ${row.randomMask === null ? '–' : signed(row.randomMask)} |`,
      ),
      '',
    );
  }
  if (r.sweep.length > 0) {
    lines.push(
      `## Sparsity (${s.sweep.seeds} seeds a point; fraction sweep at the most steps, step sweep at the default fraction)`,
      '',
      '| subject | scope | steps | top fraction | neurons | file | concept (%) | random mask (%) |',
      '|---|---|---:|---:|---:|---:|---:|---:|',
      ...r.sweep.map(
        (w) =>
          `| ${w.subject} | ${w.scope} | ${w.steps} | ${w.topFraction * 100} % | ${w.neurons} | ${kib(w.fileBytes)} | ${p1(w.concept)} | ${p1(w.randomMask)} |`,
      ),
      '',
    );
  }
  if (r.pairs.length > 0) {
    lines.push(
      '## Multi-subject (Merge Concepts; both subjects correct, each as a different read object)',
      '',
      '| subjects | prompt | base model | attributes spelled out (base model) | plain union | refined (steps, s) |',
      '|---|---|---:|---:|---:|---:|',
      ...r.pairs.map(
        (p) =>
          `| ${p.subjects.join(' + ')} | ${p.prompt} | ${p1(p.base)} | ${p1(p.spelledOut)} | ${p1(p.union)} | ${p1(p.refined)} (${p.refineSteps}, ${p.refineSeconds.toFixed(1)} s) |`,
      ),
      '',
    );
  }
  lines.push(`Whole run: ${r.wallSeconds.toFixed(1)} s wall.`);
  return `${lines.join('\n')}\n`;
}

export async function writeConesEvalOutputs(dir: string, result: ConesEvalResult): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const written: string[] = [];
  const write = async (name: string, data: string | Buffer) => {
    await writeFile(join(dir, name), data);
    written.push(join(dir, name));
  };
  await write('report.md', markdownReport(result.report));
  await write('report.json', `${JSON.stringify(result.report, null, 2)}\n`);
  const rows = result.grid;
  if (rows.length > 0) {
    const layout = gridLayout({
      rows: rows.length,
      columns: Math.max(...rows.map((row) => row.images.length)),
      tile: 64,
      gap: 2,
      caption: 12,
    });
    const { png } = await gridPng(
      layout,
      rows.map((row) => row.images),
      rows.map((row) => row.caption),
    );
    await write('grid.png', png);
    await write('rows.txt', `${rows.map((row, i) => `${i + 1}\t${row.caption}`).join('\n')}\n`);
  }
  return written;
}
