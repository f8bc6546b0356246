/**
 * The node-definition API: one typed description per node class, from which the registry derives
 * ComfyUI's `/object_info` entry and `plugin-manifest.json`. A node's `execute` runs on the main thread
 * and hands heavy work to runtime workers through `ctx.runtime`.
 */
import type { CarriedConcept } from '../cones/embed.js';
import type { RuntimeClient } from '../runtime/task-map.js';
import type { DataDirs } from '../shared/types.js';

/** Options every input kind accepts (ComfyUI "base options"). */
export interface BaseInputOptions {
  tooltip?: string;
  /** Label in the UI (ComfyUI `display_name`). */
  displayName?: string;
  /** Socket only, no widget. */
  forceInput?: boolean;
  advanced?: boolean;
}

export interface IntInput extends BaseInputOptions {
  type: 'INT';
  default: number;
  min?: number;
  max?: number;
  step?: number;
  display?: 'number' | 'slider';
  controlAfterGenerate?: boolean;
}

export interface FloatInput extends BaseInputOptions {
  type: 'FLOAT';
  default: number;
  min?: number;
  max?: number;
  step?: number;
  round?: number | false;
  display?: 'number' | 'slider';
}

export interface StringInput extends BaseInputOptions {
  type: 'STRING';
  default?: string;
  multiline?: boolean;
  dynamicPrompts?: boolean;
  placeholder?: string;
}

export interface BooleanInput extends BaseInputOptions {
  type: 'BOOLEAN';
  default: boolean;
  labelOn?: string;
  labelOff?: string;
}

/** A combo (list-first legacy form in /object_info). Options may be computed per request (files on disk). */
export interface ComboInput extends BaseInputOptions {
  type: 'COMBO';
  options: readonly string[] | ((env: NodeEnvironment) => string[]);
  default?: string;
  /** Adds ComfyUI's upload button for images (LoadImage). */
  imageUpload?: boolean;
  /** `/view` type used for previews of the chosen file. */
  imageFolder?: 'input' | 'output' | 'temp';
  controlAfterGenerate?: boolean;
  /**
   * Accept values outside `options` and leave the check to the node's `validate` (ComfyUI skips the list
   * check for inputs its VALIDATE_INPUTS takes), e.g. LoadImage's `"name.png [output]"` references.
   */
  allowUnlisted?: boolean;
}

/** A socket carrying a typed value from another node (IMAGE, MODEL, LATENT, CONCEPT, …). */
export interface SocketInput extends BaseInputOptions {
  type: SocketType;
}

export type SocketType =
  | 'IMAGE'
  | 'MASK'
  | 'LATENT'
  | 'MODEL'
  | 'CLIP'
  | 'VAE'
  | 'CONDITIONING'
  | 'CONCEPT'
  | (string & {});

export type InputSpec = IntInput | FloatInput | StringInput | BooleanInput | ComboInput | SocketInput;

/** ComfyUI hidden inputs the server injects. */
export type HiddenInput = 'PROMPT' | 'EXTRA_PNGINFO' | 'UNIQUE_ID';

export interface OutputSpec {
  type: SocketType;
  name?: string;
  tooltip?: string;
  isList?: boolean;
}

/** Where node code finds the service's folders and shared resources. */
export interface NodeEnvironment {
  /** Absolute folder paths (see `DataDirs`). */
  dirs: DataDirs;
  /**
   * Hands over work node code starts outside any prompt (the demo checkpoint write a listing starts), so
   * the service's close() waits for it instead of leaving files half-written. Absent: nobody waits.
   */
  trackBackgroundWork?(work: Promise<unknown>): void;
}

/** The hidden values ComfyUI injects (PROMPT, EXTRA_PNGINFO, UNIQUE_ID). */
export interface HiddenValues {
  prompt: Record<string, unknown>;
  extraPngInfo: Record<string, unknown>;
  uniqueId: string;
}

/** What a running node can do besides computing: report progress, check interrupts, reach workers. */
export interface NodeContext {
  env: NodeEnvironment;
  promptId: string;
  nodeId: string;
  /**
   * Injected hidden values (ComfyUI `prompt`, `extra_pnginfo`, `unique_id`). `prompt` and
   * `extraPngInfo.workflow` carry every concept the run loaded or made so far (src/cones/embed.ts).
   */
  hidden: HiddenValues;
  /**
   * Carries a concept this node loaded or made in everything the run writes (PNG chunks, history); kept
   * with the node's cached output, so a cached node carries it too.
   */
  carryConcept(concept: CarriedConcept): void;
  /** Report progress; `preview` is an encoded JPEG/PNG sent as a binary preview frame. */
  progress(value: number, max: number, preview?: { format: 'JPEG' | 'PNG'; bytes: Uint8Array }): void;
  /**
   * Sends a node's own event `{type, data}` (data as JSON, with `prompt_id`, `node` and `display_node`
   * added) to the clients that see this prompt's `progress`. `type` must be namespaced ("cones.loss") so
   * it never passes for a ComfyUI event; front ends ignore types they have no listener for.
   */
  sendEvent(type: string, data: Record<string, unknown>): void;
  /** Throws `InterruptedError` when the user interrupted this prompt. */
  checkInterrupt(): void;
  /** Aborted when the prompt is interrupted; pass to worker calls. */
  signal: AbortSignal;
  runtime: RuntimeClient;
  log(message: string): void;
}

export interface NodeResult {
  /** One value per declared output, in order. */
  outputs: unknown[];
  /** UI payload for `executed` events and history (`{images:[{filename,subfolder,type}]}`, `{text:[…]}`). */
  ui?: Record<string, unknown>;
}

export interface NodeDefinition {
  /** ComfyUI class_type; also the /object_info key. */
  name: string;
  displayName: string;
  category: string;
  description: string;
  inputs: {
    required: Record<string, InputSpec>;
    optional?: Record<string, InputSpec>;
    hidden?: Record<string, HiddenInput>;
  };
  outputs: OutputSpec[];
  outputNode?: boolean;
  /** `/object_info` python_module; default `custom_nodes.cones-nodes` ("nodes" for ComfyUI core nodes). */
  pythonModule?: string;
  /** Extra names the node search finds this node by (`search_aliases`). */
  searchAliases?: string[];
  /** Never served from the output cache (ComfyUI IS_CHANGED returning NaN). */
  notCacheable?: boolean;
  /**
   * Extra cache-key material beyond class + inputs (ComfyUI IS_CHANGED), e.g. a file's mtime/hash
   * so LoadImage re-runs when the file changes.
   */
  fingerprint?(
    inputs: Record<string, unknown>,
    env: NodeEnvironment,
    hidden: HiddenValues,
  ): string | Promise<string>;
  /**
   * Linked inputs this node can do without in this prompt, e.g. Extract Concept's photos when the prompt
   * carries its result. A source that fails validation but feeds only such inputs does not fail the
   * prompt: it is left out of the run (with whatever only it needs) and the input arrives as undefined.
   */
  dispensableInputs?(inputs: Record<string, unknown>, hidden: HiddenValues): string[];
  /** Extra validation after type/range checks (ComfyUI VALIDATE_INPUTS); return an error message or null. */
  validate?(inputs: Record<string, unknown>, env: NodeEnvironment): string | null | Promise<string | null>;
  execute(inputs: Record<string, unknown>, ctx: NodeContext): Promise<NodeResult>;
}
