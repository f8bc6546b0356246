import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveDataDirs } from '../../src/engine/data-dirs.js';
import { Executor } from '../../src/engine/executor.js';
import { OutputCache } from '../../src/engine/output-cache.js';
import type { EngineEvent } from '../../src/engine/service-types.js';
import { createTestNodes } from '../../src/engine/testing-nodes.js';
import { validatePrompt } from '../../src/engine/validate.js';
import { createNodeRegistry } from '../../src/nodes/index.js';
import { WorkerRuntime } from '../../src/runtime/worker-runtime.js';

const registry = createNodeRegistry(createTestNodes().nodes);
const env = { dirs: resolveDataDirs({ dataDir: mkdtempSync(join(tmpdir(), 'cones-preview-meta-')) }) };
const runtime = new WorkerRuntime();
afterAll(() => runtime.close());

describe('Executor previews', () => {
  it('tag each preview frame with the node it came from, so metadata-capable front ends get ComfyUI event 4', async () => {
    const v = await validatePrompt(
      { '7': { class_type: 'TestPreview', inputs: { steps: 2 } } },
      registry,
      env,
    );
    if (!v.ok) throw new Error(JSON.stringify(v.error));
    const events: EngineEvent[] = [];
    const executor = new Executor({
      registry,
      env,
      runtime,
      cache: new OutputCache(),
      emit: (e) => events.push(e),
    });
    await executor.execute(
      {
        number: 0,
        promptId: 'p-9',
        prompt: v.prompt,
        extraData: { client_id: 'c' },
        outputs: v.outputs,
        clientId: 'c',
      },
      new AbortController().signal,
    );
    const previews = events.filter((e) => e.kind === 'binary');
    expect(previews).toHaveLength(2);
    for (const frame of previews) {
      expect(frame.eventType).toBe(1);
      expect(frame.previewMeta).toEqual({
        node_id: '7',
        prompt_id: 'p-9',
        display_node_id: '7',
        parent_node_id: null,
        real_node_id: '7',
      });
    }
  });
});
