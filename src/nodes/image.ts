import { createHash, randomInt } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { extname, resolve, sep } from 'node:path';
import { addPngText } from '../image/png-text.js';
import { pythonJsonDumps } from '../image/py-json.js';
import { CROP_METHODS, type CropMethod, UPSCALE_METHODS, type UpscaleMethod } from '../image/resize.js';
import { counterFileName, joinSave, saveImagePath } from '../image/save-path.js';
import { decodeImage, encodePng, imageDims } from '../image/tensor-image.js';
import { staysInside } from '../shared/contained-path.js';
import { listRelativeFiles } from '../shared/list-files.js';
import type { DataDirs, Tensor } from '../shared/types.js';
import type { NodeContext, NodeDefinition, NodeEnvironment, NodeResult } from './types.js';

/** ComfyUI's image nodes (same class names, inputs and outputs): LoadImage, SaveImage, PreviewImage, ImageScale. */

export const MAX_RESOLUTION = 16384;
const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg', '.webp']);

function listImages(root: string): string[] {
  return listRelativeFiles(root, (name) => IMAGE_EXTENSIONS.has(extname(name).toLowerCase()), {
    linksStayInside: true,
  }).sort();
}

/**
 * Resolves a LoadImage value: `"sub/name.png"` in input/, or annotated `"name.png [output]"` /
 * `[temp]` / `[input]`. Returns null when it points outside its folder, also through a symbolic link.
 */
export function resolveAnnotatedImage(value: string, dirs: DataDirs): string | null {
  const m = /^(.*) \[(input|output|temp)\]$/.exec(value);
  const name = m ? m[1] : value;
  const base = resolve(m ? dirs[m[2] as 'input' | 'output' | 'temp'] : dirs.input);
  const full = resolve(base, name);
  if (!full.startsWith(base + sep) || !staysInside(base, full)) return null;
  return full;
}

/** Why a LoadImage value cannot be read, or null when it can. */
function imageFileProblem(value: string, path: string | null): string | null {
  if (!path) return `Invalid image file: ${value} (outside its folder, or a link leading out of it)`;
  if (!existsSync(path) || !statSync(path).isFile()) return `Invalid image file: ${value}`;
  return null;
}

function imageFileOf(inputs: Record<string, unknown>, env: NodeEnvironment): string {
  const value = String(inputs.image);
  const path = resolveAnnotatedImage(value, env.dirs);
  const problem = imageFileProblem(value, path);
  if (problem) throw new Error(problem);
  return path!;
}

export const LoadImage: NodeDefinition = {
  name: 'LoadImage',
  displayName: 'Load Image',
  category: 'image',
  description: '',
  pythonModule: 'nodes',
  inputs: {
    required: {
      image: {
        type: 'COMBO',
        options: (env) => listImages(env.dirs.input),
        imageUpload: true,
        allowUnlisted: true,
      },
    },
  },
  outputs: [{ type: 'IMAGE' }, { type: 'MASK' }],
  validate(inputs, env) {
    const value = String(inputs.image);
    return imageFileProblem(value, resolveAnnotatedImage(value, env.dirs));
  },
  async fingerprint(inputs, env) {
    return createHash('sha256')
      .update(await readFile(imageFileOf(inputs, env)))
      .digest('hex');
  },
  async execute(inputs, ctx) {
    const { image, mask } = await decodeImage(await readFile(imageFileOf(inputs, ctx.env)));
    return { outputs: [image, mask] };
  },
};

async function saveImages(
  images: Tensor,
  prefix: string,
  folder: string,
  type: 'output' | 'temp',
  compressionLevel: number,
  ctx: NodeContext,
): Promise<NodeResult> {
  const { batch, height, width } = imageDims(images);
  const path = saveImagePath(prefix, folder, width, height);
  const text: Record<string, string> = {};
  if (ctx.hidden.prompt) text.prompt = pythonJsonDumps(ctx.hidden.prompt);
  for (const [k, v] of Object.entries(ctx.hidden.extraPngInfo ?? {})) text[k] = pythonJsonDumps(v);
  const results: Array<{ filename: string; subfolder: string; type: string }> = [];
  let counter = path.counter;
  for (let b = 0; b < batch; b++) {
    ctx.checkInterrupt();
    const file = counterFileName(path.filename, counter, b);
    const png = await encodePng(images, b, compressionLevel);
    await writeFile(joinSave(path, file), Object.keys(text).length > 0 ? addPngText(png, text) : png);
    results.push({ filename: file, subfolder: path.subfolder, type });
    counter++;
  }
  return { outputs: [], ui: { images: results } };
}

export const SaveImage: NodeDefinition = {
  name: 'SaveImage',
  displayName: 'Save Image',
  category: 'image',
  description: 'Saves the input images to your ComfyUI output directory.',
  pythonModule: 'nodes',
  inputs: {
    required: {
      images: { type: 'IMAGE', tooltip: 'The images to save.' },
      filename_prefix: {
        type: 'STRING',
        default: 'ComfyUI',
        tooltip:
          'The prefix for the file to save. This may include formatting information such as %date:yyyy-MM-dd% or %Empty Latent Image.width% to include values from nodes.',
      },
    },
    hidden: { prompt: 'PROMPT', extra_pnginfo: 'EXTRA_PNGINFO' },
  },
  outputs: [],
  outputNode: true,
  execute(inputs, ctx) {
    return saveImages(
      inputs.images as Tensor,
      String(inputs.filename_prefix),
      ctx.env.dirs.output,
      'output',
      4,
      ctx,
    );
  },
};

const TEMP_LETTERS = 'abcdefghijklmnopqrstupvxyz';

export const PreviewImage: NodeDefinition = {
  name: 'PreviewImage',
  displayName: 'Preview Image',
  category: 'image',
  description: 'Saves the input images to your ComfyUI output directory.',
  pythonModule: 'nodes',
  inputs: {
    required: { images: { type: 'IMAGE' } },
    hidden: { prompt: 'PROMPT', extra_pnginfo: 'EXTRA_PNGINFO' },
  },
  outputs: [],
  outputNode: true,
  execute(inputs, ctx) {
    let suffix = '_temp_';
    for (let i = 0; i < 5; i++) suffix += TEMP_LETTERS[randomInt(TEMP_LETTERS.length)];
    return saveImages(inputs.images as Tensor, `ComfyUI${suffix}`, ctx.env.dirs.temp, 'temp', 1, ctx);
  },
};

export const ImageScale: NodeDefinition = {
  name: 'ImageScale',
  displayName: 'Upscale Image',
  category: 'image/upscaling',
  description: '',
  pythonModule: 'nodes',
  inputs: {
    required: {
      image: { type: 'IMAGE' },
      upscale_method: { type: 'COMBO', options: UPSCALE_METHODS },
      width: { type: 'INT', default: 512, min: 0, max: MAX_RESOLUTION, step: 1 },
      height: { type: 'INT', default: 512, min: 0, max: MAX_RESOLUTION, step: 1 },
      crop: { type: 'COMBO', options: CROP_METHODS },
    },
  },
  outputs: [{ type: 'IMAGE' }],
  async execute(inputs, ctx) {
    const image = inputs.image as Tensor;
    const width = Number(inputs.width);
    const height = Number(inputs.height);
    if (width === 0 && height === 0) return { outputs: [image] };
    const method = inputs.upscale_method as UpscaleMethod;
    const crop = inputs.crop as CropMethod;
    const out = await ctx.runtime.call(
      'image.scale',
      { image, method, width, height, crop },
      { signal: ctx.signal },
    );
    return { outputs: [out] };
  },
};

export const imageNodes: NodeDefinition[] = [LoadImage, SaveImage, PreviewImage, ImageScale];
