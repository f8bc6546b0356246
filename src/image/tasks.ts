import type { TaskHandlers, TaskSpec } from '../shared/tasks.js';
import type { Tensor } from '../shared/types.js';
import { type CropMethod, scaleImage, type UpscaleMethod } from './resize.js';

export interface ScaleImagePayload {
  image: Tensor;
  method: UpscaleMethod;
  width: number;
  height: number;
  crop: CropMethod;
}

/** The image family's part of the runtime task map (src/runtime/task-map.ts). */
export interface ImageTasks {
  'image.scale': TaskSpec<ScaleImagePayload, Tensor>;
}

/** Image work that runs on runtime workers (big batches would stall the main thread). */
export const imageTasks: TaskHandlers<ImageTasks> = {
  'image.scale': async (payload, ctx) => {
    ctx.checkInterrupt();
    const out = await scaleImage(payload.image, payload.method, payload.width, payload.height, payload.crop);
    const data = out.data === payload.image.data ? out.data.slice() : out.data;
    return { result: { data, shape: out.shape }, transfer: [data.buffer as ArrayBuffer] };
  },
};
