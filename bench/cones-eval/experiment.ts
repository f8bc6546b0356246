/**
 * The Cones experiment on a toy-world model (issue #12): per subject, Extract Concept, then subject
 * fidelity, text alignment, prior kept and the subject loss against A2's prediction, with the controls
 * (random mask of the same size and scope, class prompt); sparsity sweeps; merged pairs. Returns the
 * report (plain JSON) and the grid rows; output.ts writes them.
 */
import { applyConceptMask } from '../../src/cones/apply.js';
import type { Concept } from '../../src/cones/concept.js';
import { instancePrompt, priorCfgOf, priorPrompt } from '../../src/cones/extract/protocol.js';
import type { ConceptScope } from '../../src/cones/layers.js';
import type { RuntimeClient } from '../../src/runtime/task-map.js';
import { SD_TASKS } from '../../src/sd/pipeline/protocol.js';
import { type CheckpointHandle, modelFromCheckpoint, type SdModel } from '../../src/sd/pipeline/values.js';
import { readScene } from '../../src/toy/read.js';
import {
  classNounOf,
  classPrompt,
  identifierPrompt,
  isHeldOutSubject,
  pairPrompt,
  renderSubjectPhotos,
  spelledOutPairPrompt,
  spelledOutPrompt,
  subjectBackgrounds,
  subjectByName,
  type ToySubject,
} from '../../src/toy/subjects.js';
import { type BackgroundColour, SHAPES } from '../../src/toy/vocabulary.js';
import {
  conceptFileBytes,
  type Extraction,
  extractSubject,
  gradientFacts,
  mergeSubjects,
  neuronCount,
  parameterCount,
  predictedLossChange,
  randomMaskLike,
  toyExtractSettings,
  withTopFraction,
} from './concepts.js';
import { ConesSampler } from './sampling.js';
import type { ConesEvalSettings } from './settings.js';
import {
  attributeCounts,
  attributeMatches,
  attributeTv,
  type PriorAttribute,
  type Share,
  type SubjectAttribute,
  share,
  showsBoth,
  showsSubject,
} from './stats.js';

export interface ConesEvalOptions {
  checkpoint: string;
  /** The checkpoint holds random weights (the demo model): every number is meaningless, and the report says so. */
  demo: boolean;
  settings: ConesEvalSettings;
  /** Extraction cache (results, checkpoints for resume, generated priors). */
  cacheDir: string;
  graphCacheDir?: string;
  log?: (line: string) => void;
}

export interface Condition {
  label: string;
  /** Prompt template ({bg}: the background, rotated over the seeds). */
  prompt: string;
  subject: Share;
  background: Share;
  /** Each of the subject's attributes alone (the largest read object), to see partial moves. */
  attributes: Record<SubjectAttribute, Share>;
}

export interface ExtractionFacts {
  steps: number;
  /** Repeated extraction after shutting: rounds of `steps` each (1: the paper's A2). */
  rounds: number;
  learningRate: number;
  topFraction: number;
  scope: ConceptScope;
  priorCount: number;
  /** The training prompt (Extract Concept's template filled in) and the prior images' guidance. */
  instancePrompt: string;
  priorCfg: number;
  identifier: string;
  classNoun: string;
  seconds: number;
  cached: boolean;
  neurons: number;
  parameters: number;
  fileBytes: number;
  firstLoss: number | null;
  lastLoss: number | null;
  /** Share of the searched weights with M_p > 0. */
  positiveShare: number;
}

export interface PriorRow {
  prompt: string;
  /** TV distance of the attribute distributions, base vs concept applied (same seeds). */
  tv: { perAttribute: Record<PriorAttribute, number>; mean: number };
  /** The same between two disjoint seed sets of the base model: what noise alone gives. */
  noiseFloor: number;
}

export interface LossRow {
  topFraction: number;
  strength: number;
  neurons: number;
  /** Probe objective (instance + λ·prior) change when applying the concept, and A2's first-order prediction. */
  measured: number;
  predicted: number;
  /** Instance (subject) loss change alone. */
  measuredSubject: number;
  /** The random mask of the same size (strength 1 rows only). */
  randomMask: number | null;
}

export interface SubjectReport {
  subject: ToySubject;
  heldOut: boolean;
  extraction: ExtractionFacts;
  fidelity: Condition[];
  prior: PriorRow[];
  loss: { base: { subject: number; prior: number | null; objective: number }; rows: LossRow[] };
}

export interface SweepRow {
  subject: string;
  scope: ConceptScope;
  steps: number;
  topFraction: number;
  neurons: number;
  fileBytes: number;
  concept: Share;
  randomMask: Share;
}

export interface PairReport {
  subjects: [string, string];
  prompt: string;
  refineSteps: number;
  refineSeconds: number;
  base: Share;
  /** Both subjects' attributes spelled out in the prompt, base model: the pair's ceiling by prompt alone. */
  spelledOut: Share;
  union: Share;
  refined: Share;
}

export interface ConesEvalReport {
  checkpoint: string;
  fingerprint: string;
  /** The model's size (UNet width, parameters), for comparing widths. */
  model: CheckpointHandle['config'];
  demo: boolean;
  date: string;
  settings: ConesEvalSettings;
  subjects: SubjectReport[];
  sweep: SweepRow[];
  pairs: PairReport[];
  imagesGenerated: number;
  generationSeconds: number;
  wallSeconds: number;
}

export interface GridRow {
  caption: string;
  images: Uint8Array[];
}

export interface ConesEvalResult {
  report: ConesEvalReport;
  grid: GridRow[];
}

const seedsFrom = (start: number, n: number) => Array.from({ length: n }, (_, i) => start + i);

class Experiment {
  readonly sampler: ConesSampler;
  readonly base: SdModel;
  imagesGenerated = 0;
  generationSeconds = 0;

  constructor(
    readonly runtime: RuntimeClient,
    readonly handle: CheckpointHandle,
    readonly o: ConesEvalOptions,
  ) {
    this.sampler = new ConesSampler(runtime, handle, o.settings.sampling);
    this.base = modelFromCheckpoint(handle);
  }

  get s(): ConesEvalSettings {
    return this.o.settings;
  }

  log(line: string): void {
    this.o.log?.(line);
  }

  async draw(model: SdModel, jobs: { prompt: string; seed: number }[]): Promise<Uint8Array[]> {
    const started = performance.now();
    const images = await this.sampler.generate(model, jobs);
    this.generationSeconds += (performance.now() - started) / 1000;
    this.imagesGenerated += images.length;
    return images;
  }

  /** `prompt(bg)` over `n` seeds, the background rotating over `backgrounds`. */
  async condition(
    label: string,
    model: SdModel,
    subject: ToySubject,
    prompt: (bg: BackgroundColour) => string,
    n: number,
    backgrounds = subjectBackgrounds(subject),
  ): Promise<{ condition: Condition; images: Uint8Array[] }> {
    const seeds = seedsFrom(0, n);
    const bgs = seeds.map((seed) => backgrounds[seed % backgrounds.length]);
    const images = await this.draw(
      model,
      seeds.map((seed, i) => ({ prompt: prompt(bgs[i]), seed })),
    );
    const readings = images.map((rgb) => readScene(rgb));
    const hits = readings.filter((r) => showsSubject(r, subject)).length;
    const bgHits = readings.filter((r, i) => r.background === bgs[i]).length;
    const condition = {
      label,
      prompt: prompt('{bg}' as BackgroundColour),
      subject: share(hits, n),
      background: share(bgHits, n),
      attributes: attributeMatches(readings, subject),
    };
    this.log(`  ${label}: subject ${pct(condition.subject)}, background ${pct(condition.background)}`);
    return { condition, images };
  }

  async prior(subject: ToySubject, concept: SdModel, prompt: string): Promise<PriorRow> {
    const n = this.s.seeds;
    const jobs = (start: number) => seedsFrom(start, n).map((seed) => ({ prompt, seed }));
    const read = async (model: SdModel, start: number) =>
      attributeCounts((await this.draw(model, jobs(start))).map((rgb) => readScene(rgb)));
    const base = await read(this.base, 0);
    const applied = await read(concept, 0);
    const otherSeeds = await read(this.base, n);
    const row = { prompt, tv: attributeTv(base, applied), noiseFloor: attributeTv(base, otherSeeds).mean };
    this.log(`  prior "${prompt}": TV ${row.tv.mean.toFixed(3)} (noise floor ${row.noiseFloor.toFixed(3)})`);
    void subject;
    return row;
  }

  async extract(
    subject: ToySubject,
    over: Partial<ReturnType<typeof toyExtractSettings>> = {},
  ): Promise<Extraction> {
    const photos = renderSubjectPhotos(subject, this.s.photos, this.s.photoSeed);
    const settings = toyExtractSettings({ ...this.s.extraction, ...over });
    this.log(
      `  Extract Concept: ${settings.steps} steps, ${settings.scope}, top ${settings.topFraction * 100} %`,
    );
    return extractSubject(this.runtime, this.handle, subject, photos, settings, this.o.cacheDir);
  }

  /** Probe objective = subject loss + λ · prior loss, on the latents extraction trained on. */
  async objective(model: SdModel, concept: Concept, lambda: number) {
    const t = concept.training;
    if (!t) throw new Error('the concept carries no training data (extraction runs with keepTrainingData)');
    const levels = this.s.probe.levels;
    const seeds = seedsFrom(0, this.s.probe.seeds);
    const subject = await this.sampler.probeLoss(model, t.instanceLatents, t.instancePrompt, levels, seeds);
    const prior =
      t.priorLatents && t.priorPrompt
        ? await this.sampler.probeLoss(model, t.priorLatents, t.priorPrompt, levels, seeds)
        : null;
    return { subject, prior, objective: subject + lambda * (prior ?? 0) };
  }

  async lossRows(e: Extraction): Promise<SubjectReport['loss']> {
    const lambda = e.settings.priorLossWeight;
    const concept = e.result.concept;
    const base = await this.objective(this.base, concept, lambda);
    const rows: LossRow[] = [];
    const measure = async (c: Concept, topFraction: number, strength: number, control: boolean) => {
      const applied = await this.objective(applyConceptMask(this.base, c, { strength }), concept, lambda);
      const random = control
        ? (
            await this.objective(
              applyConceptMask(this.base, randomMaskLike(c, this.s.controlSeed), { strength }),
              concept,
              lambda,
            )
          ).objective - base.objective
        : null;
      rows.push({
        topFraction,
        strength,
        neurons: neuronCount(c),
        measured: applied.objective - base.objective,
        predicted: predictedLossChange(e, c, strength),
        measuredSubject: applied.subject - base.subject,
        randomMask: random,
      });
    };
    // Other fractions re-select from one ξ; after several rounds ξ is the last round's, so only the
    // extracted concept itself is measured then.
    if ((e.settings.rounds ?? 1) > 1) await measure(concept, e.settings.topFraction, 1, true);
    else for (const f of this.s.sweep.topFractions) await measure(withTopFraction(e, f), f, 1, true);
    for (const strength of this.s.strengths.filter((x) => x !== 1))
      await measure(concept, e.settings.topFraction, strength, false);
    return { base, rows };
  }

  async subject(
    subject: ToySubject,
    grid: GridRow[],
  ): Promise<{ report: SubjectReport; extraction: Extraction }> {
    const n = this.s.seeds;
    const e = await this.extract(subject);
    const concept = e.result.concept;
    const strength = this.s.strength;
    const applied = applyConceptMask(this.base, concept, { strength });
    const random = applyConceptMask(this.base, randomMaskLike(concept, this.s.controlSeed), { strength });
    const facts = gradientFacts(e, concept);
    const losses = e.result.losses;
    const extraction: ExtractionFacts = {
      steps: e.settings.steps,
      rounds: e.settings.rounds ?? 1,
      learningRate: e.settings.learningRate,
      topFraction: e.settings.topFraction,
      scope: e.settings.scope,
      priorCount: e.settings.priorCount,
      instancePrompt: instancePrompt(subject.identifier, classNounOf(subject), e.settings.promptTemplate),
      priorCfg: priorCfgOf(e.settings),
      identifier: subject.identifier,
      classNoun: classNounOf(subject),
      seconds: e.seconds,
      cached: e.result.cached,
      neurons: neuronCount(concept),
      parameters: parameterCount(concept),
      fileBytes: conceptFileBytes(concept),
      firstLoss: losses.length > 0 ? losses[0] : null,
      lastLoss: losses.length > 0 ? losses[losses.length - 1] : null,
      positiveShare: facts.positiveShare,
    };
    const id = (bg: BackgroundColour) => identifierPrompt(subject, bg);
    const base = await this.condition('base model (base rate)', this.base, subject, id, n);
    const withConcept = await this.condition('concept applied', applied, subject, id, n);
    const randomMask = await this.condition('random mask, same size (control)', random, subject, id, n);
    const classOnly = await this.condition(
      'concept, class prompt without identifier (control)',
      applied,
      subject,
      (bg) => classPrompt(subject, bg),
      n,
    );
    const spelled = await this.condition(
      'base model, attributes spelled out (prompt alone)',
      this.base,
      subject,
      (bg) => spelledOutPrompt(subject, bg),
      n,
    );
    const other = SHAPES[(SHAPES.indexOf(subject.shape) + 1) % SHAPES.length];
    const prior = [
      await this.prior(subject, applied, priorPrompt(classNounOf(subject))),
      await this.prior(subject, applied, priorPrompt(other)),
    ];
    const loss = await this.lossRows(e);
    const g = this.s.gridSeeds;
    grid.push(
      {
        caption: `${subject.name} ("${subject.identifier}"): subject photos`,
        images: renderSubjectPhotos(subject, this.s.photos, this.s.photoSeed),
      },
      { caption: `base: ${id('{bg}' as BackgroundColour)}`, images: base.images.slice(0, g) },
      {
        caption: `concept applied: ${id('{bg}' as BackgroundColour)}`,
        images: withConcept.images.slice(0, g),
      },
    );
    return {
      extraction: e,
      report: {
        subject,
        heldOut: isHeldOutSubject(subject),
        extraction,
        fidelity: [base, withConcept, randomMask, classOnly, spelled].map((c) => c.condition),
        prior,
        loss,
      },
    };
  }

  async sweep(subject: ToySubject, main: Extraction): Promise<SweepRow[]> {
    const rows: SweepRow[] = [];
    const { steps, topFractions, scopes, seeds } = this.s.sweep;
    const maxSteps = Math.max(...steps);
    const defaultFraction = main.settings.topFraction;
    for (const scope of scopes) {
      for (const k of steps) {
        const same = scope === main.settings.scope && k === main.settings.steps;
        const e = same ? main : await this.extract(subject, { steps: k, scope });
        const fractions = k === maxSteps ? topFractions : [defaultFraction];
        for (const f of fractions) {
          const concept = f === e.settings.topFraction ? e.result.concept : withTopFraction(e, f);
          const id = (bg: BackgroundColour) => identifierPrompt(subject, bg);
          const label = `sweep ${scope}, ${k} steps, top ${f * 100} %`;
          const c = await this.condition(label, applyConceptMask(this.base, concept), subject, id, seeds);
          const r = await this.condition(
            `${label}, random mask`,
            applyConceptMask(this.base, randomMaskLike(concept, this.s.controlSeed)),
            subject,
            id,
            seeds,
          );
          rows.push({
            subject: subject.name,
            scope,
            steps: k,
            topFraction: f,
            neurons: neuronCount(concept),
            fileBytes: conceptFileBytes(concept),
            concept: c.condition.subject,
            randomMask: r.condition.subject,
          });
        }
      }
    }
    return rows;
  }

  async pair(
    a: ToySubject,
    b: ToySubject,
    ea: Extraction,
    eb: Extraction,
    grid: GridRow[],
  ): Promise<PairReport> {
    const { union, refined, refineSeconds } = await mergeSubjects(
      this.runtime,
      this.handle,
      [ea.result.concept, eb.result.concept],
      this.s.refineSteps,
    );
    const backgrounds = subjectBackgrounds(a).filter((bg) => bg !== b.colour);
    const seeds = seedsFrom(0, this.s.seeds);
    const jobsFor = (prompt: typeof pairPrompt) =>
      seeds.map((seed) => ({ prompt: prompt(a, b, backgrounds[seed % backgrounds.length]), seed }));
    const jobs = jobsFor(pairPrompt);
    const both = async (model: SdModel, run = jobs) => {
      const images = await this.draw(model, run);
      return {
        images,
        share: share(images.filter((rgb) => showsBoth(readScene(rgb), a, b)).length, run.length),
      };
    };
    const base = await both(this.base);
    const spelledOut = await both(this.base, jobsFor(spelledOutPairPrompt));
    const plain = await both(applyConceptMask(this.base, union));
    const refinedRun = await both(applyConceptMask(this.base, refined));
    const prompt = pairPrompt(a, b, '{bg}' as BackgroundColour);
    this.log(
      `  pair "${prompt}": both correct base ${pct(base.share)}, spelled out ${pct(spelledOut.share)}, union ${pct(plain.share)}, refined ${pct(refinedRun.share)}`,
    );
    grid.push(
      { caption: `merged (union): ${prompt}`, images: plain.images.slice(0, this.s.gridSeeds) },
      {
        caption: `merged (refined ${this.s.refineSteps} steps): ${prompt}`,
        images: refinedRun.images.slice(0, this.s.gridSeeds),
      },
    );
    return {
      subjects: [a.name, b.name],
      prompt,
      refineSteps: this.s.refineSteps,
      refineSeconds,
      base: base.share,
      spelledOut: spelledOut.share,
      union: plain.share,
      refined: refinedRun.share,
    };
  }
}

export function pct(s: Share): string {
  return `${(s.p * 100).toFixed(1)} ± ${(s.se * 100).toFixed(1)} %`;
}

export async function runConesEval(runtime: RuntimeClient, o: ConesEvalOptions): Promise<ConesEvalResult> {
  const started = performance.now();
  const log = o.log ?? (() => {});
  const handle = await runtime.call(SD_TASKS.loadCheckpoint, {
    path: o.checkpoint,
    ...(o.graphCacheDir ? { graphCacheDir: o.graphCacheDir } : {}),
  });
  const x = new Experiment(runtime, handle, o);
  const subjects = o.settings.subjects.map(subjectByName);
  for (const [a, b] of o.settings.pairs) {
    if (!o.settings.subjects.includes(a) || !o.settings.subjects.includes(b))
      throw new RangeError(`pair ${a} + ${b}: both subjects must be among the evaluated ones`);
    if (subjectByName(a).size === 'large' && subjectByName(b).size === 'large')
      throw new RangeError(`pair ${a} + ${b}: two large subjects do not fit in one frame`);
  }
  const grid: GridRow[] = [];
  const reports: SubjectReport[] = [];
  const extractions = new Map<string, Extraction>();
  for (const [i, subject] of subjects.entries()) {
    log(
      `subject ${i + 1}/${subjects.length}: ${subject.name} ("${subject.identifier} ${classNounOf(subject)}")`,
    );
    const { report, extraction } = await x.subject(subject, grid);
    reports.push(report);
    extractions.set(subject.name, extraction);
  }
  const sweep: SweepRow[] = [];
  for (const subject of subjects.slice(0, o.settings.sweep.subjects)) {
    log(`sparsity sweep: ${subject.name}`);
    sweep.push(...(await x.sweep(subject, extractions.get(subject.name)!)));
  }
  const pairs: PairReport[] = [];
  for (const [a, b] of o.settings.pairs) {
    log(`multi-subject: ${a} + ${b}`);
    pairs.push(
      await x.pair(subjectByName(a), subjectByName(b), extractions.get(a)!, extractions.get(b)!, grid),
    );
  }
  return {
    report: {
      checkpoint: o.checkpoint,
      fingerprint: handle.fingerprint,
      model: handle.config,
      demo: o.demo,
      date: new Date().toISOString(),
      settings: o.settings,
      subjects: reports,
      sweep,
      pairs,
      imagesGenerated: x.imagesGenerated,
      generationSeconds: x.generationSeconds,
      wallSeconds: (performance.now() - started) / 1000,
    },
    grid,
  };
}
