import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPromptService, type EnginePromptService } from '../../src/engine/prompt-service.js';
import type { EngineEvent } from '../../src/engine/service-types.js';
import { createTestNodes, type TestNodes } from '../../src/engine/testing-nodes.js';

export interface Harness {
  service: EnginePromptService;
  test: TestNodes;
  events: EngineEvent[];
  dataDir: string;
  /** JSON events of one prompt as [type, data] (status included, binary left out). */
  jsonEvents(promptId?: string): Array<[string, Record<string, unknown>]>;
  close(): Promise<void>;
}

export function createHarness(): Harness {
  const dataDir = mkdtempSync(join(tmpdir(), 'cones-engine-'));
  const test = createTestNodes();
  const logs: string[] = [];
  const service = createPromptService({ dataDir, extraNodes: test.nodes, log: (m) => logs.push(m) });
  const events: EngineEvent[] = [];
  service.onEvent((e) => events.push(e));
  return {
    service,
    test,
    events,
    dataDir,
    jsonEvents(promptId) {
      return events
        .filter((e): e is Extract<EngineEvent, { kind: 'json' }> => e.kind === 'json')
        .filter((e) => !promptId || e.type === 'status' || e.data.prompt_id === promptId)
        .map((e) => [e.type, e.data]);
    },
    async close() {
      await service.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
