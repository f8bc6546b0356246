import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { encodeConcept } from '../../src/cones/file.js';
import { conceptMetadataProblems } from '../../src/cones/metadata.js';
import { conceptMetadataSchema } from '../../src/cones/metadata-schema.js';
import { assetPath } from '../../src/shared/assets.js';
import { randomConcept } from './helpers.js';

describe('concept metadata schema', () => {
  it('schemas/concept-metadata.schema.json is the schema the code validates with (no drift)', () => {
    const file = JSON.parse(readFileSync(assetPath('..', 'schemas', 'concept-metadata.schema.json'), 'utf8'));
    expect(file).toEqual(JSON.parse(JSON.stringify(conceptMetadataSchema)));
  });

  it('accepts what the writer produces and names the path of each problem', () => {
    const { metadata } = encodeConcept(randomConcept({ seed: 1, density: 0.01 }));
    expect(conceptMetadataProblems(metadata)).toBeNull();
    expect(conceptMetadataProblems({ ...metadata, created: 'yesterday' })).toMatch(
      /\/created must match format "date-time"/,
    );
    expect(conceptMetadataProblems({ ...metadata, extra: 1 })).toMatch(
      /must NOT have additional properties 'extra'/,
    );
    const origin = metadata.origin as any;
    const noTau = {
      ...metadata,
      origin: { ...origin, hyper_parameters: { ...origin.hyper_parameters, selection: 'threshold' } },
    };
    expect(conceptMetadataProblems(noTau)).toMatch(/needs a numeric threshold/);
  });
});
