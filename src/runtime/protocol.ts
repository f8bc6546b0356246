import type { RuntimeSettings } from '../shared/runtime-settings.js';
import type { TaskMetrics, TaskPreview } from '../shared/tasks.js';

/** What a runtime worker gets at start (`workerData`). */
export interface WorkerData {
  settings: RuntimeSettings;
}

/** Messages between the main thread (`WorkerRuntime`) and a runtime worker (`worker-main.ts`). */

export interface CallMessage {
  type: 'call';
  id: number;
  task: string;
  payload: unknown;
  /** Int32Array view over this; slot 0 becomes 1 when the caller aborts (readable mid-computation). */
  abort: SharedArrayBuffer;
}

export type WorkerMessage =
  | {
      type: 'progress';
      id: number;
      value: number;
      max: number;
      preview?: TaskPreview;
      metrics?: TaskMetrics;
    }
  | { type: 'log'; id: number; message: string }
  | { type: 'result'; id: number; result: unknown }
  | {
      type: 'error';
      id: number;
      error: { name: string; message: string; stack?: string; interrupted: boolean };
    };
