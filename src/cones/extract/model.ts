/**
 * The checkpoint and ONNX sessions an extraction or refinement runs on: the worker's loaded model from
 * the SD pipeline's model cache (src/sd/pipeline/worker-tasks.ts), pinned while the task runs. So a
 * checkpoint is open once per worker whether it samples or extracts, the training graphs count in the
 * cache's memory budget, and `/free` releases them with the rest. The training sessions keep their own
 * ORT settings (no CPU arena / memory pattern: see src/sd/pipeline/loaded-model.ts).
 */

import type { SD1Checkpoint } from '../../sd/checkpoint/checkpoint.js';
import type { Sd1Sessions } from '../../sd/graphs/sessions.js';
import type { LoadedModel } from '../../sd/pipeline/loaded-model.js';
import type { CheckpointHandle } from '../../sd/pipeline/values.js';
import { releaseModels, withTaskModel } from '../../sd/pipeline/worker-tasks.js';
import type { TaskContext } from '../../shared/tasks.js';

export interface ExtractionModel {
  checkpoint: SD1Checkpoint;
  /** float32 text encoder, VAE and UNet. */
  sessions: Sd1Sessions;
  /** Training graphs (`training.training(…)`). */
  training: Sd1Sessions;
  /**
   * Releases the model's sessions (they reopen from the graph cache) unless another task uses the
   * model too: an extraction gives the encoders' memory to its training graph this way.
   */
  releaseSessions(): Promise<void>;
}

/** Runs `work` with the sessions of `handle`'s checkpoint, refusing a file that changed since it was loaded. */
export function withExtractionModel<R>(
  handle: CheckpointHandle,
  ctx: TaskContext,
  work: (m: ExtractionModel) => Promise<R>,
): Promise<R> {
  return withTaskModel(handle, ctx, (model: LoadedModel) => {
    const { sessions, training } = model.extraction();
    return work({
      checkpoint: model.checkpoint,
      sessions,
      training,
      releaseSessions: async () => {
        await model.releaseSessionsIfSoleUser();
      },
    });
  });
}

/** Releases the worker's loaded models that no task is using (tests; `/free` does the same). */
export async function releaseExtractionModel(): Promise<void> {
  await releaseModels();
}
