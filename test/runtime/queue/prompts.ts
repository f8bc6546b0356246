/** The small txt2img API prompt the distributed-mode tests send (tiny demo model, 64 px). */
export interface Txt2imgOptions {
  steps: number;
  prefix: string;
  seed?: number;
  text?: string;
  ckpt?: string;
}

export function txt2imgPrompt({
  steps,
  prefix,
  seed = 42,
  text = 'a photo of a cat',
  ckpt = 'tiny-sd1-demo.safetensors',
}: Txt2imgOptions) {
  return {
    '3': {
      class_type: 'KSampler',
      inputs: {
        seed,
        steps,
        cfg: 7,
        sampler_name: 'euler',
        scheduler: 'normal',
        denoise: 1,
        model: ['4', 0],
        positive: ['6', 0],
        negative: ['7', 0],
        latent_image: ['5', 0],
      },
    },
    '4': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: ckpt } },
    '5': { class_type: 'EmptyLatentImage', inputs: { width: 64, height: 64, batch_size: 1 } },
    '6': { class_type: 'CLIPTextEncode', inputs: { text, clip: ['4', 1] } },
    '7': { class_type: 'CLIPTextEncode', inputs: { text: 'blurry', clip: ['4', 1] } },
    '8': { class_type: 'VAEDecode', inputs: { samples: ['3', 0], vae: ['4', 2] } },
    '9': { class_type: 'SaveImage', inputs: { filename_prefix: prefix, images: ['8', 0] } },
  };
}
