import { describe, expect, it } from 'vitest';
import { conceptChecksum } from '../../src/cones/checksum.js';
import { encodeIndices } from '../../src/cones/codec.js';
import { createConcept } from '../../src/cones/concept.js';
import {
  CHECKSUM_KEY,
  ConceptFileError,
  decodeConcept,
  encodeConcept,
  INDEX_TENSOR_PREFIX,
  METADATA_KEY,
} from '../../src/cones/file.js';
import { readSafetensors, writeSafetensors } from '../../src/cones/safetensors.js';
import { demoConfig } from '../../src/train/recipe.js';
import { randomConcept } from './helpers.js';

function expectFileError(fn: () => unknown, code: string, message: RegExp) {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConceptFileError);
    expect((e as ConceptFileError).code).toBe(code);
    expect((e as Error).message).toMatch(message);
    return;
  }
  throw new Error('expected a ConceptFileError');
}

/** Rewrites a file's metadata and/or one stream, with a checksum that matches the new content. */
function forge(bytes: Uint8Array, edit: (meta: any, tensors: Map<string, any>) => void): Uint8Array {
  const file = readSafetensors(bytes);
  const meta = JSON.parse(file.metadata[METADATA_KEY]);
  const tensors = new Map([...file.tensors].map(([k, t]) => [k, { ...t, data: t.data.slice() }]));
  edit(meta, tensors);
  return writeSafetensors(tensors, {
    ...file.metadata,
    [METADATA_KEY]: JSON.stringify(meta),
    [CHECKSUM_KEY]: conceptChecksum(meta, tensors),
  });
}

describe('concept file', () => {
  it('round-trips indices, shapes and metadata exactly', () => {
    for (const density of [0, 0.001, 0.01, 0.05]) {
      const concept = randomConcept({ seed: 7, density, scope: 'all attention K/V' });
      const encoded = encodeConcept(concept);
      const back = decodeConcept(encoded.bytes);
      expect(back.description).toEqual(concept.description);
      expect(back.layers.map((l) => l.key)).toEqual(concept.layers.map((l) => l.key));
      back.layers.forEach((l, i) => {
        expect(l.shape).toEqual(concept.layers[i].shape);
        expect(l.indices).toEqual(concept.layers[i].indices);
      });
      expect(back.checksum).toBe(encoded.checksum);
      expect(back.file?.byteLength).toBe(encoded.bytes.length);
    }
  });

  it('is a plain safetensors file: one U8 tensor per weight and string metadata', () => {
    const concept = randomConcept({ seed: 1, density: 0.01 });
    const file = readSafetensors(encodeConcept(concept).bytes);
    expect(file.metadata.format).toBe('cones-concept');
    expect(file.metadata[CHECKSUM_KEY]).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(file.tensors.size).toBe(32);
    for (const layer of concept.layers) {
      const t = file.tensors.get(INDEX_TENSOR_PREFIX + layer.key)!;
      expect(t.dtype).toBe('U8');
      expect(t.shape).toEqual([t.data.length]);
    }
  });

  it('keeps training data (latents + prompts) only when the concept has them and the flag allows', () => {
    const base = randomConcept({ seed: 2, density: 0.01 });
    const latents = {
      data: Float32Array.from({ length: 2 * 4 * 8 * 8 }, (_, i) => Math.sin(i)),
      shape: [2, 4, 8, 8],
    };
    const concept = {
      ...base,
      training: {
        instancePrompt: 'photo of a sks dog',
        priorPrompt: 'photo of a dog',
        instanceLatents: latents,
      },
    };
    const back = decodeConcept(encodeConcept(concept).bytes);
    expect(back.training?.instancePrompt).toBe('photo of a sks dog');
    expect(back.training?.priorPrompt).toBe('photo of a dog');
    expect(back.training?.instanceLatents.shape).toEqual([2, 4, 8, 8]);
    expect(back.training?.instanceLatents.data).toEqual(latents.data);
    expect(
      decodeConcept(encodeConcept(concept, { includeTrainingData: false }).bytes).training,
    ).toBeUndefined();
  });

  it('reports a flipped byte as a checksum mismatch', () => {
    const bytes = encodeConcept(randomConcept({ seed: 3, density: 0.01 })).bytes;
    const corrupted = bytes.slice();
    corrupted[corrupted.length - 3] ^= 0x10;
    expectFileError(
      () => decodeConcept(corrupted),
      'checksum_mismatch',
      /checksum mismatch.*modified or corrupted/,
    );
  });

  it('reports truncated files as truncated, at any cut', () => {
    const bytes = encodeConcept(randomConcept({ seed: 4, density: 0.01 })).bytes;
    for (const cut of [0, 5, 20, bytes.length - 1]) {
      expectFileError(() => decodeConcept(bytes.subarray(0, cut)), 'truncated', /truncated/);
    }
  });

  it('tells a non-safetensors file and a checkpoint apart from a concept', () => {
    expectFileError(
      () => decodeConcept(new TextEncoder().encode('hello world, not a concept')),
      'not_safetensors',
      /header/,
    );
    const checkpoint = writeSafetensors(
      new Map([['w', { dtype: 'F32', shape: [2], data: new Uint8Array(8) }]]),
      { format: 'pt' },
    );
    expectFileError(() => decodeConcept(checkpoint), 'not_a_concept', /not a concept file/);
  });

  it('rejects schema-invalid metadata even with a matching checksum', () => {
    const bytes = encodeConcept(randomConcept({ seed: 5, density: 0.01 })).bytes;
    const badScope = forge(bytes, (m) => {
      m.scope = 'all weights';
    });
    expectFileError(() => decodeConcept(badScope), 'bad_metadata', /\/scope/);
    const noIdentifier = forge(bytes, (m) => {
      delete m.identifier;
    });
    expectFileError(() => decodeConcept(noIdentifier), 'bad_metadata', /identifier/);
    const badTotal = forge(bytes, (m) => {
      m.total_count += 1;
    });
    expectFileError(() => decodeConcept(badTotal), 'bad_metadata', /total_count/);
  });

  it('round-trips a concept of a model with fewer transformers than SD1 (the toy demo layout)', () => {
    const layout = demoConfig().unet;
    const concept = randomConcept({ seed: 9, density: 0.02, scope: 'all attention K/V', layout });
    expect(concept.layers).toHaveLength(28);
    const back = decodeConcept(encodeConcept(concept).bytes);
    expect(back.layers.map((l) => [l.key, l.shape])).toEqual(concept.layers.map((l) => [l.key, l.shape]));
    back.layers.forEach((l, i) => {
      expect(l.indices).toEqual(concept.layers[i].indices);
    });
  });

  it('rejects a file whose layers leave out part of a transformer, or name weights outside the scope', () => {
    const bytes = encodeConcept(randomConcept({ seed: 4, density: 0.01 })).bytes;
    const key = 'model.diffusion_model.input_blocks.4.1.transformer_blocks.0.attn2.to_v.weight';
    const partial = forge(bytes, (m, tensors) => {
      m.total_count -= m.layers[key].count;
      m.total_parameters_in_scope -= m.layers[key].shape[0] * m.layers[key].shape[1];
      delete m.layers[key];
      tensors.delete(INDEX_TENSOR_PREFIX + key);
    });
    expectFileError(() => decodeConcept(partial), 'bad_metadata', /input_blocks\.4\.1' lacks/);
    const selfAttention = forge(bytes, (m, tensors) => {
      const self = key.replace('attn2', 'attn1');
      m.layers[self] = m.layers[key];
      m.total_count += m.layers[key].count;
      m.total_parameters_in_scope += m.layers[key].shape[0] * m.layers[key].shape[1];
      tensors.set(INDEX_TENSOR_PREFIX + self, tensors.get(INDEX_TENSOR_PREFIX + key));
    });
    expectFileError(() => decodeConcept(selfAttention), 'bad_metadata', /attn1.*not in scope/);
  });

  it('rejects streams that decode out of range or disagree with the metadata count', () => {
    const concept = randomConcept({ seed: 6, density: 0.01 });
    const bytes = encodeConcept(concept).bytes;
    const layer = concept.layers[0];
    const name = INDEX_TENSOR_PREFIX + layer.key;
    const outOfRange = forge(bytes, (_m, tensors) => {
      // A stream written for a larger weight: its indices run past this one.
      const big = Uint32Array.of(layer.shape[0] * layer.shape[1] + 5);
      const stream = encodeIndices(big, layer.shape[0] * layer.shape[1] + 10).bytes;
      tensors.set(name, { dtype: 'U8', shape: [stream.length], data: stream });
      _m.layers[layer.key].count = 1;
      _m.total_count = concept.layers.reduce((s, l) => s + l.indices.length, 0) - layer.indices.length + 1;
    });
    expectFileError(() => decodeConcept(outOfRange), 'bad_indices', /out of range/);
    const wrongCount = forge(bytes, (m) => {
      m.layers[layer.key].count += 1;
      m.total_count += 1;
    });
    expectFileError(() => decodeConcept(wrongCount), 'bad_indices', /metadata says/);
  });

  it('refuses to create a concept with unsorted, duplicate or out-of-scope indices', () => {
    const base = {
      identifier: 'sks',
      class_noun: 'dog',
      base_model: { fingerprint: 'abc', architecture: 'sd1' as const },
      scope: 'cross-attention K/V' as const,
      origin: {
        kind: 'extracted' as const,
        hyper_parameters: {
          steps: 1,
          learning_rate: 1,
          selection: 'threshold' as const,
          threshold: 0,
          batch_size: 1,
          prior_loss_weight: 1,
          resolution: 512,
          seed: 0,
        },
      },
    };
    const key = 'model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight';
    expect(() => createConcept({ ...base, indices: { [key]: [3, 2] } })).toThrow(/not sorted/);
    expect(() => createConcept({ ...base, indices: { [key]: [2, 2] } })).toThrow(/duplicate/);
    expect(() => createConcept({ ...base, indices: { [key]: [320 * 768] } })).toThrow(/out of range/);
    const selfAttn = key.replace('attn2', 'attn1');
    expect(() => createConcept({ ...base, indices: { [selfAttn]: [1] } })).toThrow(/not in scope/);
  });
});
