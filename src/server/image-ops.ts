import sharp from 'sharp';
import { insertPngChunks, rawTextChunks } from '../image/png-text.js';
import { HttpError } from './http-error.js';

/** What `/view` should send instead of the stored file, per `preview` and `channel` (ComfyUI semantics). */
export interface ViewTransform {
  preview?: string;
  channel?: string;
}

export interface Encoded {
  bytes: Buffer;
  mime: string;
  /** Extension for the download name. */
  ext: string;
}

function invalidImage(error: unknown): HttpError {
  return new HttpError(400, 'invalid_image', `Not a readable image: ${(error as Error).message}`);
}

/**
 * `preview=<webp|jpeg>[;quality]` re-encodes (webp when alpha is kept), `channel=rgb` drops alpha (PNG),
 * `channel=a` returns the alpha channel as a PNG whose colour is black. Returns null when the stored file
 * is sent unchanged.
 */
export async function transformForView(file: Buffer, options: ViewTransform): Promise<Encoded | null> {
  const channel = (options.channel ?? 'rgba').toLowerCase();
  if (!['rgba', 'rgb', 'a'].includes(channel))
    throw new HttpError(400, 'invalid_channel', `Unknown channel '${channel}'`);
  try {
    if (options.preview) {
      const [format, qualityText] = options.preview.split(';');
      let kind = format === 'jpeg' || format === 'webp' ? format : 'webp';
      if (channel.includes('a')) kind = 'webp';
      const quality = Math.min(100, Math.max(1, Number.parseInt(qualityText ?? '90', 10) || 90));
      let image = sharp(file);
      if (channel === 'rgb' || kind === 'jpeg') image = image.removeAlpha();
      const bytes =
        kind === 'jpeg' ? await image.jpeg({ quality }).toBuffer() : await image.webp({ quality }).toBuffer();
      return { bytes, mime: `image/${kind}`, ext: kind === 'jpeg' ? '.jpg' : '.webp' };
    }
    if (channel === 'rgb') {
      return { bytes: await sharp(file).removeAlpha().png().toBuffer(), mime: 'image/png', ext: '.png' };
    }
    if (channel === 'a') {
      const image = sharp(file);
      const { width, height, hasAlpha } = await image.metadata();
      const alpha = hasAlpha
        ? await image.ensureAlpha().extractChannel(3).raw().toBuffer()
        : Buffer.alloc(width! * height!, 255);
      const rgba = Buffer.alloc(width! * height! * 4);
      for (let i = 0; i < alpha.length; i++) rgba[i * 4 + 3] = alpha[i];
      const bytes = await sharp(rgba, { raw: { width: width!, height: height!, channels: 4 } })
        .png()
        .toBuffer();
      return { bytes, mime: 'image/png', ext: '.png' };
    }
    return null;
  } catch (error) {
    if (error instanceof HttpError) throw error;
    throw invalidImage(error);
  }
}

/**
 * ComfyUI's mask upload: the original image (RGB) with the uploaded image's alpha channel as its alpha,
 * saved as PNG keeping the original's text chunks (workflow metadata). A mask of another size is resized.
 */
export async function compositeMask(original: Buffer, mask: Uint8Array): Promise<Buffer> {
  try {
    const base = sharp(original);
    const { width, height } = await base.metadata();
    const rgb = await base.removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const alpha = await sharp(mask)
      .ensureAlpha()
      .extractChannel(3)
      .resize(width!, height!, { fit: 'fill' })
      .raw()
      .toBuffer();
    const png = await sharp(rgb.data, {
      raw: { width: width!, height: height!, channels: rgb.info.channels },
    })
      .joinChannel(alpha, { raw: { width: width!, height: height!, channels: 1 } })
      .png({ compressionLevel: 4 })
      .toBuffer();
    return insertPngChunks(png, rawTextChunks(original));
  } catch (error) {
    throw invalidImage(error);
  }
}

/** Decodes an image to a float32 [H, W, C] tensor in 0..1 (the native protocol's `get_output as: tensor`). */
export async function decodeToTensor(file: Buffer): Promise<{ shape: number[]; data: Float32Array }> {
  try {
    const { data, info } = await sharp(file).raw().toBuffer({ resolveWithObject: true });
    const out = new Float32Array(data.length);
    for (let i = 0; i < data.length; i++) out[i] = data[i] / 255;
    return { shape: [info.height, info.width, info.channels], data: out };
  } catch (error) {
    throw invalidImage(error);
  }
}
