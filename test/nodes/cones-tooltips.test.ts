import { describe, expect, it } from 'vitest';
import { allNodeDefinitions } from '../../src/nodes/index.js';

/** Issue #8 item 4: every Cones input says in words what it does; a bare symbol ("ρ.") is not a tooltip. */
describe('Cones node tooltips', () => {
  const conesNodes = allNodeDefinitions().filter((n) => n.category === 'cones');

  it('cover the Cones nodes', () => {
    expect(conesNodes.map((n) => n.name)).toEqual(
      expect.arrayContaining(['ConesExtractConcept', 'ConesApplyConceptMask', 'ConesMergeConcepts']),
    );
  });

  for (const node of conesNodes) {
    const inputs = { ...node.inputs.required, ...(node.inputs.optional ?? {}) };
    for (const [name, spec] of Object.entries(inputs)) {
      it(`${node.name}.${name} has a plain-language tooltip`, () => {
        const tooltip = (spec as { tooltip?: string }).tooltip ?? '';
        expect(tooltip.split(/\s+/).filter((w) => /[a-z]{2,}/i.test(w)).length).toBeGreaterThanOrEqual(6);
      });
    }
  }
});
