/**
 * `cones-nodes run <workflow> [--data-dir DIR] [--comfyui-dir DIR] [--input FILE]…`
 * Runs a workflow headless, in process: API-format or UI-format JSON, or a PNG with an embedded
 * workflow. Shows progress and prints the files the output nodes wrote.
 */
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { createPromptService, type EnginePromptService } from '../engine/prompt-service.js';
import type { EngineEvent, HistoryEntry, NodeErrors } from '../engine/service-types.js';
import { loadWorkflowFile } from '../engine/workflow-file.js';
import { resolveAnnotatedImage } from '../nodes/image.js';
import {
  parseCommandArgs,
  runtimeSettingFlags,
  runtimeSettingsFromFlags,
  runtimeSettingsUsage,
  usageError,
} from './args.js';

export const usage = `Usage: cones-nodes run <workflow.json | image.png> [options]

Runs a workflow headless in this process and prints the files its output nodes wrote.
The file may be an API-format prompt, a UI-format workflow (as the ComfyUI front end saves it),
or a PNG with an embedded workflow (its 'prompt' chunk, else its 'workflow' chunk).
Images a LoadImage node names that are missing from the input folder are copied there from the
workflow file's folder when they exist there.

Options:
  --data-dir DIR      data folder (models/, input/, output/, temp/, user/); default ./data
  --comfyui-dir DIR   use an existing ComfyUI install's folders
  --input FILE        copy FILE into the input folder first (repeatable)
  --quiet             no progress output
  -h, --help          this text

${runtimeSettingsUsage()}`;

function parse(argv: string[]) {
  return parseCommandArgs('run', usage, {
    args: argv,
    allowPositionals: true,
    options: {
      'data-dir': { type: 'string' },
      'comfyui-dir': { type: 'string' },
      input: { type: 'string', multiple: true },
      quiet: { type: 'boolean' },
      ...runtimeSettingFlags,
      help: { type: 'boolean', short: 'h' },
    },
  });
}

function describeErrors(
  error: { message: string; details: string },
  nodeErrors: NodeErrors,
  titles: Record<string, string>,
): string {
  const lines = [`${error.message}${error.details ? `: ${error.details}` : ''}`];
  for (const [id, n] of Object.entries(nodeErrors)) {
    for (const e of n.errors)
      lines.push(`  node ${id} (${titles[id] ?? n.class_type}): ${e.message}: ${e.details}`);
  }
  return lines.join('\n');
}

/** Progress display: a redrawn bar on a terminal, a few plain lines otherwise. */
class ProgressView {
  private lastBucket = -1;
  private open = false;
  constructor(
    private readonly tty: boolean,
    private readonly titles: Record<string, string>,
  ) {}

  private label(node: string): string {
    return `#${node} ${this.titles[node] ?? ''}`.trim();
  }

  node(node: string): void {
    this.finishLine();
    this.lastBucket = -1;
    if (!this.tty) process.stderr.write(`running ${this.label(node)}\n`);
    else {
      process.stderr.write(`running ${this.label(node)}`);
      this.open = true;
    }
  }

  progress(node: string, value: number, max: number): void {
    const fraction = max > 0 ? Math.min(1, value / max) : 0;
    if (this.tty) {
      const width = 30;
      const filled = Math.round(fraction * width);
      const bar = `${'#'.repeat(filled)}${'-'.repeat(width - filled)}`;
      process.stderr.write(`\r\x1b[2K${this.label(node)} [${bar}] ${value}/${max}`);
      this.open = true;
      return;
    }
    const bucket = Math.floor(fraction * 4); // 0, 25, 50, 75, 100 %
    if (bucket !== this.lastBucket) {
      this.lastBucket = bucket;
      process.stderr.write(`  ${this.label(node)}: ${value}/${max}\n`);
    }
  }

  finishLine(): void {
    if (this.open) process.stderr.write('\n');
    this.open = false;
  }
}

function outputFiles(entry: HistoryEntry, service: EnginePromptService): string[] {
  const files: string[] = [];
  const { dirs } = service.env;
  for (const ui of Object.values(entry.outputs)) {
    for (const key of ['images', 'gifs', 'audio', 'video']) {
      const list = ui[key];
      if (!Array.isArray(list)) continue;
      for (const item of list as Array<{ filename?: string; subfolder?: string; type?: string }>) {
        if (!item?.filename) continue;
        const base = item.type === 'temp' ? dirs.temp : item.type === 'input' ? dirs.input : dirs.output;
        files.push(join(base, item.subfolder ?? '', item.filename));
      }
    }
  }
  return files;
}

/** Copies LoadImage files that live next to the workflow into input/ when input/ lacks them. */
function stageNeighbourImages(
  prompt: Record<string, { class_type: string; inputs: Record<string, unknown> }>,
  workflowDir: string,
  service: EnginePromptService,
  log: (m: string) => void,
): void {
  for (const node of Object.values(prompt)) {
    if (node.class_type !== 'LoadImage' || typeof node.inputs.image !== 'string') continue;
    const target = resolveAnnotatedImage(node.inputs.image, service.env.dirs);
    if (!target || existsSync(target) || node.inputs.image.endsWith(']')) continue;
    const candidate = resolve(workflowDir, node.inputs.image);
    if (!candidate.startsWith(resolve(workflowDir) + sep) || !existsSync(candidate)) continue;
    mkdirSync(dirname(target), { recursive: true });
    copyFileSync(candidate, target);
    log(`copied ${candidate} to ${target}`);
  }
}

export async function run(argv: string[]): Promise<number> {
  const parsed = parse(argv);
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  if (positionals.length !== 1) return usageError('run', 'expected one workflow file', usage);
  const file = resolve(positionals[0]);
  if (!existsSync(file)) {
    console.error(`run: no such file: ${file}`);
    return 1;
  }
  const runtimeSettings = runtimeSettingsFromFlags('run', values);
  if (typeof runtimeSettings === 'number') return runtimeSettings;
  const quiet = values.quiet === true;
  const info = (m: string) => {
    if (!quiet) process.stderr.write(`${m}\n`);
  };
  const logs: string[] = [];
  let service: EnginePromptService | undefined;
  const onSigint = () => service?.interrupt();
  try {
    service = createPromptService({
      dataDir: values['data-dir'] ?? './data',
      comfyuiDir: values['comfyui-dir'],
      log: (m) => logs.push(m),
      runtimeSettings,
    });
    for (const input of values.input ?? []) {
      const target = join(service.env.dirs.input, basename(input));
      copyFileSync(resolve(input), target);
      info(`copied ${input} to ${target}`);
    }
    const loaded = loadWorkflowFile(file, service.registry);
    stageNeighbourImages(loaded.prompt, dirname(file), service, info);
    const titles: Record<string, string> = {};
    for (const [id, n] of Object.entries(loaded.prompt)) titles[id] = n._meta?.title ?? n.class_type;
    const result = await service.queuePrompt({
      prompt: loaded.prompt,
      client_id: 'cli',
      extra_data: loaded.workflow ? { extra_pnginfo: { workflow: loaded.workflow } } : {},
    });
    if (!result.ok) {
      console.error(
        `run: the workflow is not valid:\n${describeErrors(result.error, result.node_errors, titles)}`,
      );
      return 1;
    }
    const view = new ProgressView(process.stderr.isTTY === true && !quiet, titles);
    let failure: string | null = null;
    service.onEvent((e: EngineEvent) => {
      if (e.kind !== 'json' || e.data.prompt_id !== result.prompt_id) return;
      if (e.type === 'executing' && typeof e.data.node === 'string' && !quiet) view.node(e.data.node);
      else if (e.type === 'progress' && !quiet)
        view.progress(String(e.data.node), Number(e.data.value), Number(e.data.max));
      else if (e.type === 'execution_cached' && !quiet && (e.data.nodes as string[]).length > 0)
        info(`cached: ${(e.data.nodes as string[]).map((n) => `#${n}`).join(', ')}`);
      else if (e.type === 'execution_error') {
        const d = e.data as Record<string, unknown>;
        failure = `node ${d.node_id} (${d.node_type}) failed: ${d.exception_type}: ${d.exception_message}`;
      } else if (e.type === 'execution_interrupted') failure = 'interrupted';
    });
    process.on('SIGINT', onSigint);
    const entry = await service.waitForPrompt(result.prompt_id);
    view.finishLine();
    if (entry.status.status_str !== 'success') {
      console.error(`run: ${failure ?? 'execution failed'}`);
      return failure === 'interrupted' ? 130 : 1;
    }
    for (const path of outputFiles(entry, service)) console.log(path);
    return 0;
  } catch (error) {
    console.error(`run: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  } finally {
    process.off('SIGINT', onSigint);
    await service?.close();
  }
}
