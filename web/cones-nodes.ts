/**
 * The Cones nodes' front-end extension (served at /extensions/cones-nodes/cones-nodes.js and listed by
 * GET /extensions). Works in the LiteGraph front ends from 1.4 to current: it uses only
 * `registerExtension`, `beforeRegisterNodeDef`, `nodeCreated`, node callbacks and `api.addEventListener`.
 * Against a server without the Cones nodes it does nothing: no node matches and no event arrives.
 */

import { offerCarriedConcept } from './carried-concepts.js';
import {
  type ComfyApi,
  type ComfyApp,
  type ComfyExtension,
  type ComfyNode,
  type ComfyNodeClass,
  comfyApi,
  comfyApp,
  onServerEvent,
} from './comfy.js';
import {
  CONCEPT_MENU_NODES,
  EXTRACT_CONCEPT,
  LOAD_CONCEPT,
  LOSS_EVENT,
  type LossEvent,
  TEXT_OUTPUT_NODES,
} from './cones-classes.js';
import { embedConcepts, stripConcepts } from './embed-concepts.js';
import { fixSeedAfterGenerate } from './fixed-seed.js';
import { addLoss, addLossCurveWidget, curveOf } from './loss-curve.js';
import { showText } from './text-output.js';

const EXTENSION_NAME = 'cones.nodes';

type MenuOption = { content: string; callback: () => void } | null;

function nodeClassOf(node: ComfyNode): string | undefined {
  return (node as { comfyClass?: string }).comfyClass ?? node.type;
}

function notify(app: ComfyApp, summary: string, detail: string, severity: 'info' | 'warn'): void {
  const toast = (app as { extensionManager?: { toast?: { add(m: Record<string, unknown>): void } } })
    .extensionManager?.toast;
  if (toast) toast.add({ severity, summary, detail, life: 5000 });
  else console.info(`cones-nodes: ${summary}: ${detail}`);
}

function withTextOutput(nodeType: ComfyNodeClass, app: ComfyApp): void {
  const proto = nodeType.prototype as ComfyNode & { onExecuted?: (output: unknown) => void };
  const original = proto.onExecuted;
  proto.onExecuted = function (this: ComfyNode, output: unknown) {
    original?.call(this, output);
    showText(this, app, (output as { text?: unknown } | null)?.text);
  };
}

function withConceptMenu(nodeType: ComfyNodeClass, app: ComfyApp, api: ComfyApi): void {
  const proto = nodeType.prototype as unknown as {
    getExtraMenuOptions?: (canvas: unknown, options: MenuOption[]) => MenuOption[] | undefined;
  };
  const original = proto.getExtraMenuOptions;
  proto.getExtraMenuOptions = function (this: unknown, canvas, options) {
    const result = original?.call(this, canvas, options);
    options.push(
      null,
      {
        content: 'Embed concepts in workflow',
        callback: () => {
          void embedConcepts(app, api).then(({ embedded, failed }) => {
            const detail = `${embedded.length ? embedded.join(', ') : 'no Load Concept files'}${failed.length ? `; failed: ${failed.join('; ')}` : ''}`;
            notify(app, 'Concepts embedded', detail, failed.length ? 'warn' : 'info');
          });
        },
      },
      {
        content: 'Strip concepts from workflow',
        callback: () => notify(app, 'Concepts stripped', `${stripConcepts(app)} removed`, 'info'),
      },
    );
    return result;
  };
}

function register(app: ComfyApp, api: ComfyApi): void {
  const extension: ComfyExtension = {
    name: EXTENSION_NAME,
    setup() {
      onServerEvent<LossEvent>(api, LOSS_EVENT, (event) => {
        const node = app.graph?.getNodeById?.(event.display_node ?? event.node);
        if (node && nodeClassOf(node) === EXTRACT_CONCEPT) addLoss(node, event);
      });
    },
    beforeRegisterNodeDef(nodeType, nodeData) {
      if (TEXT_OUTPUT_NODES.includes(nodeData.name)) withTextOutput(nodeType, app);
      if (CONCEPT_MENU_NODES.includes(nodeData.name)) withConceptMenu(nodeType, app, api);
    },
    loadedGraphNode(node) {
      if (nodeClassOf(node) === LOAD_CONCEPT) offerCarriedConcept(node, app);
    },
    nodeCreated(node) {
      if (nodeClassOf(node) !== EXTRACT_CONCEPT) return;
      addLossCurveWidget(node);
      fixSeedAfterGenerate(node);
    },
  };
  app.registerExtension(extension);
  // For checks from outside (scripts/e2e-frontend-cones.mjs): the curve a node shows.
  (globalThis as { conesNodes?: unknown }).conesNodes = { curveOf };
}

const app = comfyApp();
const api = comfyApi();
if (app && api) register(app, api);
else console.warn('cones-nodes: this front end does not expose window.comfyAPI; the extension stays off');
