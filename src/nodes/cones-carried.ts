/**
 * Concepts a node made, carried by value in what the run writes (src/cones/embed.ts), and found again
 * when the workflow runs elsewhere. A node finds its carried result by content key when it can compute
 * the key (Extract Concept with its photos, Merge Concepts with its inputs), and by recipe (the
 * portable signature of its sub-graph, src/cones/recipe.ts) when it cannot: then the photos were not
 * available and their loader was left out of the run (`dispensableInputs`).
 */
import type { Concept } from '../cones/concept.js';
import { carriedConcept, type FoundCarried, findCarried, producedConceptName } from '../cones/embed.js';
import { DEFAULT_ROUNDS } from '../cones/extract/protocol.js';
import { decodeConcept, encodeConcept } from '../cones/file.js';
import { nodeRecipe, type SameAsAbsent } from '../cones/recipe.js';
import type { HiddenValues, NodeContext } from './types.js';

/**
 * Node inputs added after concepts were first carried, at the value that means the same as their
 * absence: workflows shared before they existed still find their concepts (recipe.ts).
 */
const INPUTS_ADDED_LATER: SameAsAbsent = { ConesExtractConcept: { rounds: DEFAULT_ROUNDS } };

const recipeOfNode = (hidden: HiddenValues) => nodeRecipe(hidden.prompt, hidden.uniqueId, INPUTS_ADDED_LATER);

/** The carried concept made by a node with this node's recipe, if the prompt or workflow has one. */
export function carriedByRecipe(hidden: HiddenValues): FoundCarried | undefined {
  const recipe = recipeOfNode(hidden);
  return findCarried(hidden, (entry) => entry.recipe === recipe);
}

/** The carried concept with this content key, if the prompt or workflow has one. */
export function carriedByKey(hidden: HiddenValues, key: string): FoundCarried | undefined {
  return findCarried(hidden, (entry) => entry.key === key);
}

/** Decodes a found entry, checking it was made on `fingerprint` (the MODEL this node runs with). */
export function decodeCarried(found: FoundCarried, fingerprint: string): Concept {
  const concept = decodeConcept(found.bytes(), `carried concept '${found.name}'`);
  const made = concept.description.base_model.fingerprint;
  if (made !== fingerprint)
    throw new Error(
      `the concept carried in the workflow ('${found.name}') was made on another base model (concept fingerprint ${made}, model fingerprint ${fingerprint})`,
    );
  return concept;
}

/** Carries a concept this node made (or took from the workflow) under its content key. */
export function carryMade(ctx: NodeContext, concept: Concept, key: string, nameParts: string[]): void {
  const bytes = encodeConcept(concept).bytes;
  ctx.carryConcept(
    carriedConcept(producedConceptName(nameParts, key), bytes, {
      node: ctx.hidden.uniqueId,
      recipe: recipeOfNode(ctx.hidden),
      key,
    }),
  );
}

/** Carries a concept taken from the workflow again, byte for byte. */
export function carryFound(ctx: NodeContext, found: FoundCarried, key: string): void {
  ctx.carryConcept(
    carriedConcept(found.name, found.bytes(), {
      node: ctx.hidden.uniqueId,
      recipe: recipeOfNode(ctx.hidden),
      key,
    }),
  );
}
