/**
 * Issue #4 item 7: loaded models are shared between prompts and released when another checkpoint
 * needs the memory — checked on the real SD worker tasks with two real tiny checkpoints and a memory
 * budget (`--model-memory-mb`) that holds only one. A loaded model keeps its checkpoint file open
 * (lazy reads); a released one has closed it, so /proc/self/fd tells which models are loaded.
 */
import { mkdtempSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { CheckpointHandle } from '../../../src/sd/pipeline/values.js';
import { writeTinyModel } from '../../../src/sd/tiny-model.js';
import { resolveRuntimeSettings } from '../../../src/shared/runtime-settings.js';
import type { TaskContext } from '../../../src/shared/tasks.js';

const root = mkdtempSync(join(tmpdir(), 'sd-model-memory-'));
const pathA = join(root, 'a.safetensors');
const pathB = join(root, 'b.safetensors');

let ctx: TaskContext;
const context = (modelMemoryMb: number): TaskContext => ({
  settings: resolveRuntimeSettings({ 'model-memory-mb': String(modelMemoryMb) }),
  progress: () => {},
  aborted: false,
  checkInterrupt: () => {},
  log: () => {},
});

/** Files this process holds open. */
function openFiles(): string[] {
  const out: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      out.push(readlinkSync(join('/proc/self/fd', fd)));
    } catch {
      // closed while listing
    }
  }
  return out;
}

let handlers: typeof import('../../../src/sd/pipeline/worker-tasks.js').handlers;

beforeAll(async () => {
  await writeTinyModel(pathA, { seed: 1 });
  await writeTinyModel(pathB, { seed: 2 });
  // the budget (fixed by the worker's first task): room for one tiny model, not for a second one's
  // file beside the first one's open sessions
  ctx = context(Math.ceil(statSync(pathA).size / 2 ** 20));
  ({ handlers } = await import('../../../src/sd/pipeline/worker-tasks.js'));
});

describe.runIf(process.platform === 'linux')('SD model memory', () => {
  it('shares a loaded model between tasks and releases it when another checkpoint needs the memory', async () => {
    const graphCacheDir = join(root, 'graphs');
    const load = async (path: string) =>
      (await handlers.loadCheckpoint({ path, graphCacheDir }, ctx)).result as CheckpointHandle;
    const encode = async (checkpoint: CheckpointHandle) =>
      (await handlers.encodeText({ clip: { kind: 'sd1.clip', checkpoint }, text: 'a photo of a cat' }, ctx))
        .result.embedding.data;

    const a = await load(pathA);
    const first = await encode(a);
    const second = await encode(a);
    expect(openFiles().filter((f) => f === pathA)).toHaveLength(1); // one load, shared
    expect(Array.from(second)).toEqual(Array.from(first));

    const b = await load(pathB);
    await encode(b); // B's sessions need memory: A, least recently used, goes
    expect(openFiles()).toContain(pathB);
    expect(openFiles()).not.toContain(pathA);

    // A comes back transparently, to the same result, and now B makes room for it
    expect(Array.from(await encode(a))).toEqual(Array.from(first));
    expect(openFiles()).toContain(pathA);
    expect(openFiles()).not.toContain(pathB);
  });
});
