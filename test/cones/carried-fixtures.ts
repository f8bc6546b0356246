/** A tiny, fast extraction workflow over a subject only the first machine has (self-contained output tests). */
import sharp from 'sharp';
import { gradientPng } from '../server/helpers.js';

export const SUBJECT = 'my-own-subject'; // not a shipped sample: only server A has these photos

/** Load Subject Photos → Extract Concept → Apply Concept Mask → sample → Save Image, tiny and fast. */
export function extractionPrompt(savePrefix = 'carried'): Record<string, any> {
  return {
    '1': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'tiny-sd1-demo.safetensors' } },
    '2': { class_type: 'ConesLoadSubjectImages', inputs: { subject: SUBJECT, size: 64 } },
    '3': {
      class_type: 'ConesExtractConcept',
      inputs: {
        model: ['1', 0],
        clip: ['1', 1],
        vae: ['1', 2],
        images: ['2', 0],
        identifier: 'sks',
        class_noun: 'ball',
        prior_count: 0,
        steps: 2,
        learning_rate: 0.05,
        selection: 'top_fraction',
        top_fraction: 0.01,
        threshold: 0.1,
        scope: 'cross-attention K/V',
        batch_size: 1,
        prior_loss_weight: 1,
        resolution: 64,
        seed: 0,
        hflip: true,
        keep_training_data: false,
      },
      _meta: { title: 'Extract Concept' },
    },
    '4': {
      class_type: 'ConesApplyConceptMask',
      inputs: { model: ['1', 0], concept: ['3', 0], strength: 1, allow_mismatch: false },
    },
    '5': { class_type: 'CLIPTextEncode', inputs: { text: 'photo of a sks ball', clip: ['1', 1] } },
    '6': { class_type: 'CLIPTextEncode', inputs: { text: '', clip: ['1', 1] } },
    '7': { class_type: 'EmptyLatentImage', inputs: { width: 64, height: 64, batch_size: 1 } },
    '8': {
      class_type: 'KSampler',
      inputs: {
        seed: 7,
        steps: 2,
        cfg: 7,
        sampler_name: 'euler',
        scheduler: 'normal',
        denoise: 1,
        model: ['4', 0],
        positive: ['5', 0],
        negative: ['6', 0],
        latent_image: ['7', 0],
      },
    },
    '9': { class_type: 'VAEDecode', inputs: { samples: ['8', 0], vae: ['1', 2] } },
    '10': { class_type: 'SaveImage', inputs: { images: ['9', 0], filename_prefix: savePrefix } },
  };
}

/** Photo `i` of the subject: a gradient, brighter for each i (PNG). */
export async function subjectPhoto(i: number): Promise<Buffer> {
  return sharp(await gradientPng(48, 40))
    .modulate({ brightness: 0.5 + 0.4 * i })
    .png()
    .toBuffer();
}
