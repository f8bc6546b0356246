/**
 * Extract Concept (Algorithm A2) and Merge refinement as they run inside a runtime worker. The
 * extraction is keyed by its input hash: a finished result is served from the result cache, and an
 * interrupted or crashed run resumes from its last saved ξ with the same outcome as an uninterrupted
 * run (each step's randomness depends on (seed, step) only).
 */

import type { SD1Checkpoint } from '../../sd/checkpoint/checkpoint.js';
import type { Sd1Sessions, TrainingRunner } from '../../sd/graphs/sessions.js';
import type { TaskContext } from '../../shared/tasks.js';
import { type Concept, ConceptError, type ConceptTrainingData, createConcept } from '../concept.js';
import {
  CONCEPT_SCOPE_TO_KV,
  type ConceptScope,
  kvShapesFromCheckpoint,
  type WeightShape,
} from '../layers.js';
import { unionOfSortedSets } from '../merge.js';
import { type A2State, conceptScores, initialState, runA2 } from './a2.js';
import { drawBatch, encodeImages, encodePrompt, type LatentSet, type SubjectData } from './data.js';
import { withExtractionModel } from './model.js';
import { generatedPriors } from './priors.js';
import {
  DEFAULT_ROUNDS,
  type ExtractPayload,
  type ExtractResult,
  extractionHash,
  instancePrompt,
  PRIOR_SAMPLING,
  priorCfgOf,
  priorPrompt,
  type RefinePayload,
  type RefineResult,
  settingsProblem,
} from './protocol.js';
import { StepRandom } from './rng.js';
import { selectNeurons } from './select.js';
import { ExtractionStore } from './store.js';

const MAX_IMAGES = 20;

function scopeShapes(checkpoint: SD1Checkpoint, scope: ConceptScope): Map<string, WeightShape> {
  return kvShapesFromCheckpoint(scope, checkpoint);
}

async function trainingRunner(
  sessions: Sd1Sessions,
  batch: number,
  side: number,
  scope: ConceptScope,
  keys: readonly string[],
  log: (message: string) => void,
): Promise<TrainingRunner> {
  const runner = await sessions.training({
    batch,
    height: side,
    width: side,
    scope: CONCEPT_SCOPE_TO_KV[scope],
  });
  const graphKeys = [...runner.kvKeys].sort().join('\n');
  if (graphKeys !== [...keys].sort().join('\n'))
    throw new Error(
      `the training graph's K/V weights do not match the checkpoint's in scope '${scope}' (its tensors and its inferred UNet config disagree)`,
    );
  if (runner.samplesPerRun < batch)
    log(
      `cones: each step's ${batch} samples run as ${batch / runner.samplesPerRun} runs of ${runner.samplesPerRun} (training activation budget)`,
    );
  return runner;
}

function record(xi: Map<string, Float64Array>): Record<string, Float64Array> {
  return Object.fromEntries(xi);
}

function formatLoss(losses: number[]): string {
  const recent = losses.slice(-20);
  return (recent.reduce((a, b) => a + b, 0) / recent.length).toPrecision(5);
}

export async function runExtraction(p: ExtractPayload, ctx: TaskContext): Promise<ExtractResult> {
  const problem = settingsProblem(p.settings);
  if (problem) throw new Error(problem);
  const count = p.images?.shape?.[0] ?? 0;
  if (
    !(p.images?.data instanceof Float32Array) ||
    p.images.shape.length !== 4 ||
    count < 1 ||
    count > MAX_IMAGES
  )
    throw new Error(
      `images must be an IMAGE batch of 1–${MAX_IMAGES} photos, got [${p.images?.shape?.join(', ') ?? ''}]`,
    );
  if (!p.identifier.trim() || !p.classNoun.trim())
    throw new Error('identifier and class_noun must not be empty');
  const s = p.settings;
  const hash = extractionHash(p);
  const store = new ExtractionStore(p.cacheDir);
  if (!p.noResultCache) {
    const cached = store.loadResult(hash);
    if (cached) {
      ctx.log(`cones: reusing the finished extraction ${hash} (result cache)`);
      ctx.progress(s.steps, s.steps);
      return { concept: cached, hash, cached: true, losses: [], resumedFrom: s.steps };
    }
  }
  return withExtractionModel(
    p.checkpoint,
    ctx,
    async ({ checkpoint, sessions, training: trainingSessions, releaseSessions }) => {
      const shapes = scopeShapes(checkpoint, s.scope);
      const keys = [...shapes.keys()];
      const side = s.resolution / 8;
      const latentSize = 4 * side * side;
      const contextSize = 77 * checkpoint.config.unet.contextDim;
      const check = () => ctx.checkInterrupt();

      const iPrompt = instancePrompt(p.identifier, p.classNoun, s.promptTemplate);
      const pPrompt = priorPrompt(p.classNoun, s.promptTemplate);
      const instance = await encodeImages(sessions, p.images, s.resolution, s.hflip, check);
      let prior: LatentSet | undefined;
      if (p.priorImages && p.priorImages.shape[0] > 0) {
        prior = await encodeImages(sessions, p.priorImages, s.resolution, s.hflip, check);
      } else if (s.priorCount > 0) {
        prior = await generatedPriors(
          sessions,
          store,
          {
            fingerprint: checkpoint.fingerprint,
            prompt: pPrompt,
            count: s.priorCount,
            resolution: s.resolution,
            seed: s.seed,
            cfg: priorCfgOf(s),
          },
          { checkInterrupt: check, progress: (v, max) => ctx.progress(v, max), log: (m) => ctx.log(m) },
        );
      }
      const data: SubjectData = {
        instance,
        instanceContext: await encodePrompt(sessions, iPrompt),
        prior,
        priorContext: prior ? await encodePrompt(sessions, pPrompt) : undefined,
      };
      const batch = prior ? 2 * s.batchSize : s.batchSize;
      // The encoders (and the prior-sampling UNet, a full copy of the weights) are done with: give their
      // memory to the training session. They reopen from the graph cache when next needed.
      await releaseSessions();
      const runner = await trainingRunner(trainingSessions, batch, side, s.scope, keys, (m) => ctx.log(m));

      const sizes = new Map(keys.map((k) => [k, shapes.get(k)![0] * shapes.get(k)![1]] as const));
      const rounds = s.rounds ?? DEFAULT_ROUNDS;
      const roundShare =
        s.selection === 'threshold'
          ? ({ selection: 'threshold', threshold: s.threshold } as const)
          : ({ selection: 'top_fraction', topFraction: s.topFraction / rounds } as const);
      const shut = new Map<string, Uint32Array>();
      const losses: number[] = [];
      let resumedFrom = 0;
      let state: A2State | undefined;
      for (let round = 0; round < rounds; round++) {
        // One ξ checkpoint per round; a finished round's stays until the end, so a resumed run re-derives
        // its selection instead of training it again.
        const stateKey = roundStateKey(hash, round, rounds);
        const resumed = store.loadState(stateKey);
        const initial =
          resumed && resumed.step <= s.steps && keys.every((k) => resumed.xi.get(k)?.length === sizes.get(k))
            ? resumed
            : round > 0
              ? shutState(keys, sizes, shut)
              : undefined;
        if (initial === resumed && resumed) {
          ctx.log(
            `cones: resuming extraction ${hash}${rounds > 1 ? ` round ${round + 1}/${rounds}` : ''} at step ${resumed.step}/${s.steps}`,
          );
          resumedFrom = round * s.steps + resumed.step;
        }
        const offset = round * s.steps;
        state = await runA2({
          keys,
          sizes,
          steps: s.steps,
          learningRate: s.learningRate,
          initial,
          fixed: round > 0 ? shut : undefined,
          checkpointEvery: p.checkpointEvery ?? 50,
          save: async (st) => store.saveState(stateKey, st),
          aborted: () => ctx.aborted,
          lossAndGrads: async (step, xi) => {
            // Each round draws the batches of steps offset + step: new samples, the same for a resumed run.
            const b = drawBatch(data, new StepRandom(s.seed, offset + step), {
              batchSize: s.batchSize,
              priorLossWeight: s.priorLossWeight,
              hflip: s.hflip,
              latentSize,
              contextSize,
            });
            return runner.run({ ...b, xi });
          },
          onStep: (st, loss) => {
            ctx.progress(offset + st.step, rounds * s.steps, undefined, { loss });
            ctx.log(
              `cones: extract ${rounds > 1 ? `round ${round + 1}/${rounds} ` : ''}step ${st.step}/${s.steps} loss ${loss.toPrecision(5)} (running ${formatLoss(st.losses)})`,
            );
          },
        });
        if (round < rounds - 1) store.saveState(stateKey, state);
        losses.push(...state.losses);
        const scores = conceptScores(state.xi, s.learningRate);
        // Neurons shut by earlier rounds sit at ξ = 0 (M_p = 1/ρ): never chosen again.
        for (const [key, idx] of shut) {
          const sc = scores.get(key)!;
          for (const i of idx) sc[i] = Number.NaN;
        }
        const picked = selectNeurons(scores, roundShare);
        for (const key of keys)
          shut.set(
            key,
            unionOfSortedSets([shut.get(key) ?? new Uint32Array(0), picked.get(key) ?? new Uint32Array(0)]),
          );
      }
      const indices = shut;
      const training: ConceptTrainingData | undefined = p.keepTrainingData
        ? {
            instancePrompt: iPrompt,
            priorPrompt: prior ? pPrompt : undefined,
            instanceLatents: { data: scaledMeans(instance), shape: [instance.count, 4, side, side] },
            priorLatents: prior
              ? { data: scaledMeans(prior), shape: [prior.count, 4, side, side] }
              : undefined,
          }
        : undefined;
      const concept = createConcept({
        identifier: p.identifier,
        class_noun: p.classNoun,
        base_model: {
          fingerprint: checkpoint.fingerprint,
          architecture: 'sd1',
          name: baseName(checkpoint.path),
        },
        scope: s.scope,
        shapes,
        indices,
        training,
        origin: {
          kind: 'extracted',
          hyper_parameters: {
            steps: s.steps,
            learning_rate: s.learningRate,
            selection: s.selection,
            ...(s.selection === 'threshold' ? { threshold: s.threshold } : { top_fraction: s.topFraction }),
            batch_size: s.batchSize,
            prior_loss_weight: s.priorLossWeight,
            resolution: s.resolution,
            seed: s.seed,
            hflip: s.hflip,
            prior_count: p.priorImages ? 0 : s.priorCount,
            final_loss: Number(formatLoss(state!.losses)),
            ...(rounds > 1 ? { rounds } : {}),
            ...(!p.priorImages && priorCfgOf(s) !== PRIOR_SAMPLING.cfg ? { prior_cfg: priorCfgOf(s) } : {}),
          },
          instance_prompt: iPrompt,
          prior_prompt: pPrompt,
          num_instance_images: instance.count,
          num_prior_images: prior?.count ?? 0,
        },
      });
      store.saveResult(hash, concept);
      for (let round = 0; round < rounds; round++) store.clearState(roundStateKey(hash, round, rounds));
      return {
        concept,
        hash,
        cached: false,
        losses,
        resumedFrom,
        xi: p.returnXi ? record(state!.xi) : undefined,
      };
    },
  );
}

/** Where round `round` (0-based) keeps its ξ checkpoint: the extraction's own key when there is one round. */
function roundStateKey(hash: string, round: number, rounds: number): string {
  return rounds === 1 ? hash : `${hash}-round${round + 1}`;
}

/** ξ = 1 except 0 at the neurons earlier rounds shut. */
function shutState(
  keys: readonly string[],
  sizes: ReadonlyMap<string, number>,
  shut: ReadonlyMap<string, Uint32Array>,
): A2State {
  const state = initialState(keys, sizes);
  for (const [key, idx] of shut) {
    const xi = state.xi.get(key)!;
    for (const i of idx) xi[i] = 0;
  }
  return state;
}

function baseName(path: string): string {
  return path.split(/[\\/]/).pop() ?? path;
}

function scaledMeans(set: LatentSet): Float32Array {
  if (set.scaled) return Float32Array.from(set.mean);
  return Float32Array.from(set.mean, (v) => v * 0.18215);
}

function subjectFromTraining(t: ConceptTrainingData): { instance: LatentSet; prior?: LatentSet } {
  const n = t.instanceLatents.shape[0];
  const instance: LatentSet = { mean: t.instanceLatents.data, count: n, scaled: true };
  const prior = t.priorLatents
    ? { mean: t.priorLatents.data, count: t.priorLatents.shape[0], scaled: true }
    : undefined;
  return { instance, prior };
}

/**
 * Merge refinement (paper §3.3): A2 on the sum of the subjects' concept-implanting losses with ξ free
 * only inside the union (elsewhere it stays 1), keeping the union neurons with M_p > τ.
 */
export async function runRefinement(p: RefinePayload, ctx: TaskContext): Promise<RefineResult> {
  const s = p.settings;
  if (!Number.isInteger(s.steps) || s.steps < 1) throw new Error(`refine steps must be ≥ 1, got ${s.steps}`);
  const missing = p.sources.filter((c) => !c.training);
  if (missing.length > 0)
    throw new ConceptError(
      `merge refinement needs each concept's training data; ${missing.map((c) => `'${c.description.identifier} ${c.description.class_noun}'`).join(', ')} has none (extract it with keep_training_data on)`,
    );
  const fp = p.checkpoint.fingerprint;
  for (const c of [p.merged, ...p.sources])
    if (c.description.base_model.fingerprint !== fp)
      throw new ConceptError(
        `concept '${c.description.identifier}' was made on another base model (fingerprint ${c.description.base_model.fingerprint}, this model ${fp})`,
      );
  const sides = new Set(
    p.sources.map((c) => `${c.training!.instanceLatents.shape[2]}x${c.training!.instanceLatents.shape[3]}`),
  );
  if (sides.size !== 1)
    throw new ConceptError(
      `the concepts were extracted at different resolutions (${[...sides].join(', ')} latents)`,
    );
  const side = p.sources[0].training!.instanceLatents.shape[2];
  const scope = p.merged.description.scope;
  return withExtractionModel(p.checkpoint, ctx, async ({ checkpoint, sessions, training }) => {
    const shapes = scopeShapes(checkpoint, scope);
    const keys = [...shapes.keys()];
    const contextSize = 77 * checkpoint.config.unet.contextDim;
    const subjects: (SubjectData & { runner: TrainingRunner })[] = [];
    for (const c of p.sources) {
      const t = c.training!;
      const { instance, prior } = subjectFromTraining(t);
      const batch = prior ? 2 * s.batchSize : s.batchSize;
      subjects.push({
        instance,
        prior,
        instanceContext: await encodePrompt(sessions, t.instancePrompt),
        priorContext: prior ? await encodePrompt(sessions, t.priorPrompt ?? '') : undefined,
        runner: await trainingRunner(training, batch, side, scope, keys, (m) => ctx.log(m)),
      });
    }
    const free = new Map(p.merged.layers.map((l) => [l.key, l.indices] as const));
    const sizes = new Map(keys.map((k) => [k, shapes.get(k)![0] * shapes.get(k)![1]] as const));
    const state = await runA2({
      keys,
      sizes,
      steps: s.steps,
      learningRate: s.learningRate,
      free,
      aborted: () => ctx.aborted,
      lossAndGrads: async (step, xi) => {
        let loss = 0;
        const grads = new Map<string, Float32Array>();
        for (let i = 0; i < subjects.length; i++) {
          const b = drawBatch(subjects[i], new StepRandom(s.seed, step, `refine:${i}`), {
            batchSize: s.batchSize,
            priorLossWeight: s.priorLossWeight,
            hflip: false,
            latentSize: 4 * side * side,
            contextSize,
          });
          const r = await subjects[i].runner.run({ ...b, xi });
          loss += r.loss;
          for (const [k, g] of r.grads) {
            const acc = grads.get(k);
            if (!acc) grads.set(k, Float32Array.from(g));
            else for (let j = 0; j < acc.length; j++) acc[j] += g[j];
          }
        }
        return { loss, grads };
      },
      onStep: (st, loss) => {
        ctx.progress(st.step, s.steps);
        ctx.log(`cones: refine step ${st.step}/${s.steps} summed loss ${loss.toPrecision(5)}`);
      },
    });
    const scores = conceptScores(state.xi, s.learningRate);
    const layers = p.merged.layers.map((l) => {
      const sc = scores.get(l.key)!;
      const kept = Array.from(l.indices).filter((i) => sc[i] > Math.fround(s.threshold));
      return { key: l.key, shape: l.shape, indices: Uint32Array.from(kept) };
    });
    const origin = p.merged.description.origin;
    const concept: Concept = {
      description: {
        ...p.merged.description,
        origin: origin.kind === 'merged' ? { ...origin, refine_steps: s.steps } : origin,
        created: new Date().toISOString(),
      },
      layers,
    };
    return { concept, losses: state.losses, xi: p.returnXi ? record(state.xi) : undefined };
  });
}
