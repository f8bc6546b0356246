/** Deterministic test data for concept tests: seeded random index sets and concepts. */
import { type Concept, createConcept } from '../../src/cones/concept.js';
import { type ConceptScope, type KvLayoutConfig, kvShapes } from '../../src/cones/layers.js';

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Each element kept independently with probability `density` (a Bernoulli set, as in the entropy bound). */
export function randomSet(numel: number, density: number, random: () => number): Uint32Array {
  const out: number[] = [];
  for (let i = 0; i < numel; i++) if (random() < density) out.push(i);
  return Uint32Array.from(out);
}

export const TINY_LAYOUT: KvLayoutConfig = { modelChannels: 32, channelMult: [1, 2, 2, 2], contextDim: 48 };

export function randomConcept(options: {
  seed: number;
  density: number;
  scope?: ConceptScope;
  layout?: KvLayoutConfig;
  identifier?: string;
  classNoun?: string;
  fingerprint?: string;
}): Concept {
  const scope = options.scope ?? 'cross-attention K/V';
  const shapes = kvShapes(scope, options.layout ?? TINY_LAYOUT);
  const random = seededRandom(options.seed);
  const indices = new Map<string, Uint32Array>();
  for (const [key, [o, i]] of shapes) indices.set(key, randomSet(o * i, options.density, random));
  return createConcept({
    identifier: options.identifier ?? 'sks',
    class_noun: options.classNoun ?? 'dog',
    base_model: {
      fingerprint: options.fingerprint ?? 'f00dfeedf00dfeedf00dfeedf00dfeed',
      name: 'tiny-sd1',
      architecture: 'sd1',
    },
    scope,
    origin: {
      kind: 'extracted',
      hyper_parameters: {
        steps: 10,
        learning_rate: 2e-5,
        selection: 'top_fraction',
        top_fraction: options.density || 0.01,
        batch_size: 1,
        prior_loss_weight: 1,
        resolution: 64,
        seed: options.seed,
      },
      instance_prompt: `photo of a ${options.identifier ?? 'sks'} ${options.classNoun ?? 'dog'}`,
      prior_prompt: `photo of a ${options.classNoun ?? 'dog'}`,
    },
    shapes,
    indices,
    created: '2026-01-02T03:04:05.000Z',
  });
}
