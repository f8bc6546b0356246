import { readFileSync } from 'node:fs';
import { isPng, readPngText } from '../image/png-text.js';
import type { NodeRegistry } from '../nodes/registry.js';
import type { ApiPrompt } from './service-types.js';
import { isApiPrompt, isUiWorkflow, type UiWorkflow, uiWorkflowToApiPrompt } from './ui-workflow.js';

/** A runnable prompt read from a file, with the UI workflow to embed in outputs when there is one. */
export interface LoadedWorkflow {
  prompt: ApiPrompt;
  workflow?: UiWorkflow;
  source: 'api' | 'ui' | 'png-prompt' | 'png-workflow';
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new Error(`${what} is not valid JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** Reads an API-format or UI-format workflow (.json) or a PNG carrying `prompt`/`workflow` chunks. */
export function loadWorkflowFile(path: string, registry: NodeRegistry): LoadedWorkflow {
  const bytes = readFileSync(path);
  if (isPng(bytes)) {
    const text = readPngText(bytes);
    const workflow = text.workflow ? parseJson(text.workflow, `the 'workflow' chunk of ${path}`) : undefined;
    const uiWorkflow = isUiWorkflow(workflow) ? workflow : undefined;
    if (text.prompt) {
      const prompt = parseJson(text.prompt, `the 'prompt' chunk of ${path}`);
      if (!isApiPrompt(prompt)) throw new Error(`the 'prompt' chunk of ${path} is not an API-format prompt`);
      return { prompt, workflow: uiWorkflow, source: 'png-prompt' };
    }
    if (uiWorkflow)
      return {
        prompt: uiWorkflowToApiPrompt(uiWorkflow, registry),
        workflow: uiWorkflow,
        source: 'png-workflow',
      };
    throw new Error(`${path} has no embedded workflow (no 'prompt' or 'workflow' text chunk)`);
  }
  const data = parseJson(bytes.toString('utf8'), path);
  // POST /prompt bodies ({prompt, extra_data}) run as well.
  if (
    data &&
    typeof data === 'object' &&
    'prompt' in data &&
    isApiPrompt((data as { prompt: unknown }).prompt)
  ) {
    const body = data as { prompt: ApiPrompt; extra_data?: { extra_pnginfo?: { workflow?: unknown } } };
    const wf = body.extra_data?.extra_pnginfo?.workflow;
    return { prompt: body.prompt, workflow: isUiWorkflow(wf) ? wf : undefined, source: 'api' };
  }
  if (isUiWorkflow(data))
    return { prompt: uiWorkflowToApiPrompt(data, registry), workflow: data, source: 'ui' };
  if (isApiPrompt(data)) return { prompt: data, source: 'api' };
  throw new Error(
    `${path} is neither an API-format prompt ({id: {class_type, inputs}}) nor a UI workflow ({nodes, links})`,
  );
}
