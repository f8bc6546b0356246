/** The server's names this extension acts on: node classes (src/nodes), the loss event, routes. */
export const EXTRACT_CONCEPT = 'ConesExtractConcept';
export const CONCEPT_INFO = 'ConesConceptInfo';
export const MERGE_CONCEPTS = 'ConesMergeConcepts';
export const LOAD_CONCEPT = 'ConesLoadConcept';

/** Nodes whose `ui.text` the extension shows on the node. */
export const TEXT_OUTPUT_NODES = [CONCEPT_INFO, MERGE_CONCEPTS, EXTRACT_CONCEPT];
/** Nodes whose context menu offers embedding and stripping concepts. */
export const CONCEPT_MENU_NODES = [LOAD_CONCEPT, EXTRACT_CONCEPT, MERGE_CONCEPTS, CONCEPT_INFO];

/** `{prompt_id, node, display_node, step, steps, loss, step_s?, eta_s?}` after each Extract Concept training step. */
export const LOSS_EVENT = 'cones.loss';
export interface LossEvent {
  prompt_id: string;
  node: string;
  display_node?: string;
  step: number;
  steps: number;
  loss: number | null;
  /** Mean seconds per step so far (from the second step on). */
  step_s?: number;
  /** Estimated seconds left (with `step_s`). */
  eta_s?: number;
}

/** `GET` one concept file's bytes (`?name=` a Load Concept name); header `X-Cones-Sha256`. */
export const CONCEPT_ROUTE = '/cones/concept';
/** Where a UI workflow carries concepts by value (src/cones/embed.ts). */
export const WORKFLOW_CONCEPTS_KEY = 'cones_concepts';
