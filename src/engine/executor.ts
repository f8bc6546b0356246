import { type CarriedConcept, embedCarried } from '../cones/embed.js';
import type { NodeRegistry } from '../nodes/registry.js';
import type { HiddenValues, NodeContext, NodeDefinition, NodeEnvironment } from '../nodes/types.js';
import type { RuntimeClient } from '../runtime/task-map.js';
import { InterruptedError } from '../shared/interrupted.js';
import type { ExecutionOutcome, Job } from './job.js';
import { keyedRecord } from './keyed-record.js';
import { computeSignatures, type OutputCache } from './output-cache.js';
import { type NodeProgress, ProgressBoard } from './progress-state.js';
import { loggedError, publicError } from './public-error.js';
import type { EngineEvent } from './service-types.js';
import { ancestorsOf, isLinkValue } from './validate.js';

/**
 * Runs one validated job with ComfyUI's execution semantics: only what the output nodes need, in
 * dependency order, cached nodes replayed (`executed` still sent for them), progress and previews
 * reported per node, interrupts honoured between nodes and inside them, and a node's exception turned
 * into `execution_error` with ComfyUI's details. Events go out in ComfyUI's order and routing.
 */

/** Event types nodes may send (`NodeContext.sendEvent`): `<namespace>.<name>`, unlike every ComfyUI type. */
const NODE_EVENT_TYPE = /^[a-z][a-z0-9_]*\.[a-z0-9_.]+$/;

export interface ExecutorDeps {
  registry: NodeRegistry;
  env: NodeEnvironment;
  runtime: RuntimeClient;
  cache: OutputCache;
  emit(event: EngineEvent): void;
  log?(message: string): void;
}

/**
 * Dependency order (ancestors first) of `needed`, walking outputs in numeric-id order and each
 * node's links in input order. An explicit stack, so that a chain of any length fits.
 */
export function executionOrder(job: Job, needed: Set<string>): string[] {
  const order: string[] = [];
  const done = new Set<string>();
  const sourcesOf = (id: string) =>
    Object.values(job.prompt[id].inputs)
      .filter(isLinkValue)
      .map((v) => String(v[0]));
  const byId = (a: string, b: string) => Number(a) - Number(b) || a.localeCompare(b);
  for (const output of [...job.outputs].sort(byId)) {
    if (done.has(output) || !needed.has(output)) continue;
    done.add(output);
    const path = [{ id: output, sources: sourcesOf(output), next: 0 }];
    while (path.length > 0) {
      const frame = path[path.length - 1];
      if (frame.next === frame.sources.length) {
        path.pop();
        order.push(frame.id);
        continue;
      }
      const source = frame.sources[frame.next++];
      if (done.has(source) || !needed.has(source)) continue;
      done.add(source);
      path.push({ id: source, sources: sourcesOf(source), next: 0 });
    }
  }
  return order;
}

function formatInputValue(v: unknown): unknown {
  if (v === null || v === undefined) return null;
  if (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') return v;
  const t = v as { data?: unknown; shape?: unknown };
  if (t && t.data instanceof Float32Array && Array.isArray(t.shape))
    return `Tensor(shape=[${t.shape.join(', ')}])`;
  try {
    const s = JSON.stringify(v);
    return s.length > 200 ? `${s.slice(0, 200)}…` : s;
  } catch {
    return String(v);
  }
}

/**
 * The concepts a run loaded or made so far, and the PROMPT / EXTRA_PNGINFO hidden values carrying
 * them (so SaveImage's chunks and anything else written from them are self-contained).
 */
class CarriedSoFar {
  private readonly byName = new Map<string, CarriedConcept>();
  private memo: Omit<HiddenValues, 'uniqueId'> | undefined;

  constructor(
    private readonly prompt: Record<string, unknown>,
    private readonly extraPngInfo: Record<string, unknown>,
  ) {}

  add(concept: CarriedConcept): void {
    const old = this.byName.get(concept.name);
    if (old && old.sha256 === concept.sha256 && old.node === concept.node) return;
    this.byName.set(concept.name, concept);
    this.memo = undefined;
  }

  list(): CarriedConcept[] {
    return [...this.byName.values()];
  }

  hidden(): Omit<HiddenValues, 'uniqueId'> {
    if (this.memo) return this.memo;
    const entries = this.list();
    const info = this.extraPngInfo;
    this.memo = {
      prompt: embedCarried(this.prompt, entries),
      extraPngInfo: 'workflow' in info ? { ...info, workflow: embedCarried(info.workflow, entries) } : info,
    };
    return this.memo;
  }
}

/** ComfyUI merges the UI dicts of a node mapped over a list: values of each key are concatenated. */
function mergeUi(uis: Array<Record<string, unknown>>): Record<string, unknown> | undefined {
  if (uis.length <= 1) return uis[0];
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(uis[0])) {
    out[key] = uis.flatMap((ui) => (Array.isArray(ui[key]) ? (ui[key] as unknown[]) : [ui[key]]));
  }
  return out;
}

export class Executor {
  constructor(private readonly deps: ExecutorDeps) {}

  async execute(job: Job, signal: AbortSignal): Promise<ExecutionOutcome> {
    const { registry, env, cache } = this.deps;
    const messages: Array<[string, Record<string, unknown>]> = [];
    const outputs: ExecutionOutcome['outputs'] = keyedRecord();
    const meta: ExecutionOutcome['meta'] = keyedRecord();
    const client = job.clientId;
    const promptId = job.promptId;
    const sendJson = (type: string, data: Record<string, unknown>, toAllWithoutClient: boolean) => {
      if (client === null && !toAllWithoutClient) return;
      this.deps.emit({ kind: 'json', clientId: client, type, data });
    };
    const addMessage = (type: string, data: Record<string, unknown>, toAllWithoutClient = false) => {
      const stamped = { ...data, timestamp: Date.now() };
      messages.push([type, stamped]);
      sendJson(type, stamped, toAllWithoutClient);
    };

    const progress = new ProgressBoard(promptId);
    const setProgress = (id: string, p: NodeProgress) => {
      progress.set(id, p);
      sendJson('progress_state', progress.message(), true);
    };

    addMessage('execution_start', { prompt_id: promptId });
    const skipped = new Set(job.skipped ?? []);
    for (const id of skipped)
      this.deps.log?.(
        `[${promptId.slice(0, 8)} #${id}] ${job.prompt[id].class_type} is not run: it is not valid here and every node it feeds can do without it`,
      );
    // As validation reads it: anything but an object is no extra PNG info.
    const pnginfo = job.extraData.extra_pnginfo;
    const extraPngInfo =
      pnginfo && typeof pnginfo === 'object' && !Array.isArray(pnginfo)
        ? (pnginfo as Record<string, unknown>)
        : {};
    const carried = new CarriedSoFar(job.prompt, extraPngInfo);
    const needed = ancestorsOf(job.prompt, job.outputs, skipped);
    const order = executionOrder(job, needed);
    const signatures = await computeSignatures(job.prompt, order, registry, env, {
      prompt: job.prompt,
      extraPngInfo,
    });
    const cachedNodes = order.filter((id) => cache.get(signatures.get(id) as string) !== undefined);
    // Like ComfyUI's execution list: the outputs are always reached; a dependency only when it is not
    // cached. Cached nodes that are not reached feed their values silently (no events).
    const cached = new Set(cachedNodes);
    const reached = new Set<string>();
    const stack = [...job.outputs];
    while (stack.length > 0) {
      const id = stack.pop() as string;
      if (reached.has(id)) continue;
      reached.add(id);
      for (const v of Object.values(job.prompt[id].inputs))
        if (isLinkValue(v) && !cached.has(String(v[0])) && !skipped.has(String(v[0])))
          stack.push(String(v[0]));
    }
    addMessage('execution_cached', { nodes: cachedNodes, prompt_id: promptId });

    /** Per node: per output slot, the list of items (ComfyUI keeps every value as a list). */
    const results = new Map<string, unknown[][]>();
    const executed: string[] = [];
    const recordUi = (id: string, ui: Record<string, unknown> | undefined) => {
      if (!ui) return;
      outputs[id] = ui;
      meta[id] = { node_id: id, display_node: id, parent_node: null, real_node_id: id };
    };

    let failure: 'error' | 'interrupted' | null = null;
    for (const id of order) {
      const node = job.prompt[id];
      const def = registry.get(node.class_type) as NodeDefinition;
      const key = signatures.get(id) as string;
      const hit = cache.get(key);
      if (hit) {
        results.set(id, hit.outputs as unknown[][]);
        for (const c of hit.carried ?? []) carried.add(c);
        if (!reached.has(id)) continue;
        setProgress(id, { value: 1, max: 1, state: 'finished' });
        sendJson(
          'executed',
          { node: id, display_node: id, output: hit.ui ?? null, prompt_id: promptId },
          false,
        );
        recordUi(id, hit.ui);
        executed.push(id);
        continue;
      }
      // ComfyUI list semantics: every value is a list of items; a node runs once per item of its
      // longest input list (shorter lists repeat their last item), `isList` outputs contribute items.
      const inputLists = keyedRecord(
        Object.entries(node.inputs).map(([name, v]) => {
          const list = isLinkValue(v) ? (results.get(String(v[0]))?.[v[1] as number] ?? [undefined]) : [v];
          return [name, list] as const;
        }),
      );
      try {
        if (signal.aborted) throw new InterruptedError();
        setProgress(id, { value: 0, max: 1, state: 'running' });
        sendJson('executing', { node: id, display_node: id, prompt_id: promptId }, true);
        const sendEvent = (type: string, data: Record<string, unknown>) => {
          if (!NODE_EVENT_TYPE.test(type))
            throw new Error(`node event type '${type}' must be namespaced, like 'cones.loss'`);
          sendJson(type, { ...data, prompt_id: promptId, node: id, display_node: id }, true);
        };
        const nodeCarried: CarriedConcept[] = [];
        const carry = (c: CarriedConcept) => {
          nodeCarried.push(c);
          carried.add(c);
        };
        const ctx = this.nodeContext(job, id, signal, sendEvent, carried, carry, (value, max, preview) => {
          sendJson('progress', { value, max, prompt_id: promptId, node: id }, true);
          setProgress(id, { value, max, state: 'running' });
          if (preview) {
            const payload = new Uint8Array(4 + preview.bytes.length);
            new DataView(payload.buffer).setUint32(0, preview.format === 'JPEG' ? 1 : 2);
            payload.set(preview.bytes, 4);
            // The origin lets the server send event 4 to front ends that negotiated preview metadata.
            const previewMeta = {
              node_id: id,
              prompt_id: promptId,
              display_node_id: id,
              parent_node_id: null,
              real_node_id: id,
            };
            this.deps.emit({ kind: 'binary', clientId: client, eventType: 1, payload, previewMeta });
          }
        });
        const lengths = Object.values(inputLists).map((l) => l.length);
        const runs = lengths.length === 0 ? 1 : lengths.includes(0) ? 0 : Math.max(...lengths);
        const outputLists: unknown[][] = def.outputs.map(() => []);
        const uis: Array<Record<string, unknown>> = [];
        for (let i = 0; i < runs; i++) {
          const inputs = keyedRecord(
            Object.entries(inputLists).map(
              ([name, list]) => [name, list[Math.min(i, list.length - 1)]] as const,
            ),
          );
          const result = await def.execute(inputs, ctx);
          if (signal.aborted) throw new InterruptedError();
          if (!result || !Array.isArray(result.outputs)) {
            throw new Error(`node ${node.class_type} returned no outputs array`);
          }
          if (result.outputs.length < def.outputs.length) {
            throw new Error(
              `node ${node.class_type} returned ${result.outputs.length} outputs but declares ${def.outputs.length}`,
            );
          }
          def.outputs.forEach((spec, k) => {
            const v = result.outputs[k];
            if (spec.isList) outputLists[k].push(...(Array.isArray(v) ? v : [v]));
            else outputLists[k].push(v);
          });
          if (result.ui) uis.push(result.ui);
        }
        const result = { outputs: outputLists, ui: mergeUi(uis) };
        results.set(id, result.outputs);
        cache.set(key, { outputs: result.outputs, ui: result.ui, carried: nodeCarried });
        const p = progress.get(id) as NodeProgress;
        setProgress(id, { value: p.max, max: p.max, state: 'finished' });
        if (result.ui) {
          sendJson('executed', { node: id, display_node: id, output: result.ui, prompt_id: promptId }, false);
          recordUi(id, result.ui);
        }
        executed.push(id);
      } catch (error) {
        if (error instanceof InterruptedError || signal.aborted) {
          failure = 'interrupted';
          addMessage(
            'execution_interrupted',
            { prompt_id: promptId, node_id: id, node_type: node.class_type, executed: [...executed] },
            true,
          );
        } else {
          failure = 'error';
          const p = progress.get(id);
          if (p) setProgress(id, { ...p, state: 'error' });
          const currentInputs = keyedRecord(
            Object.entries(inputLists).map(([name, list]) => [name, list.map(formatInputValue)] as const),
          );
          this.deps.log?.(`!!! Exception during processing !!! ${loggedError(error)}`);
          addMessage('execution_error', {
            prompt_id: promptId,
            node_id: id,
            node_type: node.class_type,
            executed: [...executed],
            ...publicError(error),
            current_inputs: currentInputs,
            current_outputs: [...results.keys()],
          });
        }
        break;
      }
    }
    cache.retainOnly(signatures.values());
    if (!failure) addMessage('execution_success', { prompt_id: promptId });
    return {
      status: { status_str: failure ? 'error' : 'success', completed: !failure, messages },
      outputs,
      meta,
      carried: carried.list(),
    };
  }

  private nodeContext(
    job: Job,
    nodeId: string,
    signal: AbortSignal,
    sendEvent: NodeContext['sendEvent'],
    carried: CarriedSoFar,
    carry: NodeContext['carryConcept'],
    onProgress: NodeContext['progress'],
  ): NodeContext {
    return {
      env: this.deps.env,
      promptId: job.promptId,
      nodeId,
      // Read when used: a node sees what the nodes before it carried.
      get hidden() {
        return { ...carried.hidden(), uniqueId: nodeId };
      },
      carryConcept: carry,
      progress: onProgress,
      sendEvent,
      checkInterrupt() {
        if (signal.aborted) throw new InterruptedError();
      },
      signal,
      runtime: this.deps.runtime,
      log: (message: string) => this.deps.log?.(`[${job.promptId.slice(0, 8)} #${nodeId}] ${message}`),
    };
  }
}
