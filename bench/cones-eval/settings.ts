/** The Cones evaluation's settings: the full experiment (issue #12) and the --quick smoke run. */
import type { ExtractSettings } from '../../src/cones/extract/protocol.js';
import type { ConceptScope } from '../../src/cones/layers.js';
import { TOY_SUBJECTS } from '../../src/toy/subjects.js';
import { DEFAULT_SAMPLING } from '../toy-eval/evaluate.js';
import type { SamplingSettings } from '../toy-eval/pipeline.js';

export interface ConesEvalSettings {
  /** Subject names (src/toy/subjects.ts). */
  subjects: string[];
  /** Seeds per fidelity / prior / multi-subject condition. */
  seeds: number;
  /** Image generation: CFG sampling as the demo uses it. */
  sampling: SamplingSettings;
  /** Extract Concept's settings where they differ from its defaults (the paper's) besides resolution 64. */
  extraction: Partial<ExtractSettings>;
  /** Apply Concept Mask's strength for the fidelity conditions and their random-mask control (1: shut). */
  strength: number;
  sweep: {
    /** The first this many subjects get the sparsity sweeps. */
    subjects: number;
    steps: number[];
    topFractions: number[];
    scopes: ConceptScope[];
    seeds: number;
  };
  /** Subject pairs merged and drawn together (at most one large subject each: two do not fit the frame). */
  pairs: [string, string][];
  refineSteps: number;
  /** Apply Concept Mask strengths whose subject loss is measured against A2's prediction. */
  strengths: number[];
  /** Subject-loss probe: noise levels (k-step schedules' last σ, k ≥ 2) and noise seeds. */
  probe: { levels: number[]; seeds: number };
  /** Columns per grid row. */
  gridSeeds: number;
  /** Subject photos per subject and their render seed. */
  photos: number;
  photoSeed: number;
  /** Seed of the random-mask controls. */
  controlSeed: number;
}

export const FULL_CONES_EVAL: ConesEvalSettings = {
  subjects: TOY_SUBJECTS.map((s) => s.name),
  seeds: 128,
  sampling: DEFAULT_SAMPLING,
  extraction: {},
  strength: 1,
  sweep: {
    subjects: TOY_SUBJECTS.length,
    steps: [100, 300, 1000],
    topFractions: [0.001, 0.01, 0.05],
    scopes: ['cross-attention K/V', 'all attention K/V'],
    seeds: 128,
  },
  // The ring + cross pair is the one whose subjects the demo model can both draw (docs/cones-toy-eval.md, run 3).
  pairs: [
    ['green-dotted-star', 'orange-striped-ring'],
    ['red-striped-square', 'blue-dotted-triangle'],
    ['orange-striped-ring', 'purple-plain-cross'],
  ],
  refineSteps: 300,
  strengths: [0.25, 0.5, 0.75, 1],
  probe: { levels: [2, 3, 5, 10, 25], seeds: 4 },
  gridSeeds: 8,
  photos: 4,
  photoSeed: 12,
  controlSeed: 99,
};

/** A smoke run of every part (≤ 10 min on 2 CPU cores with the demo-size model): 2 subjects, few seeds and steps. */
export const QUICK_CONES_EVAL: ConesEvalSettings = {
  ...FULL_CONES_EVAL,
  subjects: ['green-dotted-star', 'red-striped-square'],
  seeds: 12,
  extraction: { steps: 50, priorCount: 4 },
  sweep: { ...FULL_CONES_EVAL.sweep, subjects: 1, steps: [10, 25, 50], seeds: 12 },
  pairs: [['green-dotted-star', 'red-striped-square']],
  refineSteps: 10,
  probe: { levels: [2, 5, 25], seeds: 2 },
  gridSeeds: 6,
};
