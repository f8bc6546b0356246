import { existsSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPngText } from '../../src/image/png-text.js';
import { createHarness, type Harness } from '../engine/helpers.js';

/** A 6×4 RGBA gradient with a transparent corner. */
async function writeSample(path: string): Promise<void> {
  const w = 6;
  const h = 4;
  const px = Buffer.alloc(w * h * 4);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 4;
      px[i] = x * 40;
      px[i + 1] = y * 60;
      px[i + 2] = 200;
      px[i + 3] = x === 0 && y === 0 ? 0 : 255;
    }
  await sharp(px, { raw: { width: w, height: h, channels: 4 } })
    .png()
    .toFile(path);
}

describe('image nodes', () => {
  let h: Harness;
  beforeAll(async () => {
    h = createHarness();
    await writeSample(join(h.service.env.dirs.input, 'sample.png'));
  });
  afterAll(() => h.close());

  it('LoadImage → ImageScale → SaveImage writes a scaled PNG with prompt and workflow chunks', async () => {
    const workflow = { nodes: [], links: [], version: 0.4, note: 'é' };
    const r = await h.service.queuePrompt({
      client_id: 'c',
      prompt: {
        '1': { class_type: 'LoadImage', inputs: { image: 'sample.png' } },
        '2': {
          class_type: 'ImageScale',
          inputs: { image: ['1', 0], upscale_method: 'bilinear', width: 12, height: 8, crop: 'disabled' },
        },
        '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'sub/test' } },
      },
      extra_data: { extra_pnginfo: { workflow } },
    });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const entry = await h.service.waitForPrompt(r.prompt_id);
    expect(entry.status.status_str).toBe('success');
    expect(entry.outputs['3']).toEqual({
      images: [{ filename: 'test_00001_.png', subfolder: 'sub', type: 'output' }],
    });
    const file = join(h.service.env.dirs.output, 'sub', 'test_00001_.png');
    const meta = await sharp(file).metadata();
    expect([meta.width, meta.height, meta.format]).toEqual([12, 8, 'png']);
    const text = readPngText(readFileSync(file));
    expect(JSON.parse(text.workflow)).toEqual(workflow);
    expect(text.workflow).toContain('"note": "\\u00e9"');
    expect(JSON.parse(text.prompt)['2'].inputs.width).toBe(12);
  });

  it('LoadImage re-runs when the file changes (fingerprint = content hash) and reads [output] references', async () => {
    const path = join(h.service.env.dirs.input, 'changing.png');
    await writeSample(path);
    const prompt = {
      '1': { class_type: 'LoadImage', inputs: { image: 'changing.png' } },
      '2': {
        class_type: 'ImageScale',
        inputs: { image: ['1', 0], upscale_method: 'area', width: 3, height: 2, crop: 'disabled' },
      },
      '3': { class_type: 'PreviewImage', inputs: { images: ['2', 0] } },
    };
    const cachedOf = async () => {
      const r = await h.service.queuePrompt({ client_id: 'c', prompt });
      if (!r.ok) throw new Error(JSON.stringify(r));
      const entry = await h.service.waitForPrompt(r.prompt_id);
      expect(entry.status.status_str).toBe('success');
      return entry.status.messages.find(([t]) => t === 'execution_cached')?.[1].nodes;
    };
    expect(await cachedOf()).toEqual([]);
    expect(await cachedOf()).toEqual(['1', '2', '3']);
    await sharp({ create: { width: 6, height: 4, channels: 3, background: '#ff0000' } })
      .png()
      .toFile(path);
    expect(await cachedOf()).toEqual([]);

    writeFileSync(join(h.service.env.dirs.output, 'made.png'), readFileSync(path));
    const r = await h.service.queuePrompt({
      prompt: {
        '1': { class_type: 'LoadImage', inputs: { image: 'made.png [output]' } },
        '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'from-output' } },
      },
    });
    expect(r.ok).toBe(true);
    if (r.ok) expect((await h.service.waitForPrompt(r.prompt_id)).status.status_str).toBe('success');
    const escaping = await h.service.queuePrompt({
      prompt: {
        '1': { class_type: 'LoadImage', inputs: { image: '../output/made.png' } },
        '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'x' } },
      },
    });
    expect(escaping.ok).toBe(false);
  });

  it('SaveImage counts up from the highest existing counter', async () => {
    writeFileSync(join(h.service.env.dirs.output, 'count_00007_.png'), '');
    const r = await h.service.queuePrompt({
      prompt: {
        '1': { class_type: 'LoadImage', inputs: { image: 'sample.png' } },
        '3': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'count' } },
      },
    });
    if (!r.ok) throw new Error(JSON.stringify(r));
    const entry = await h.service.waitForPrompt(r.prompt_id);
    expect(entry.outputs['3']).toEqual({
      images: [{ filename: 'count_00008_.png', subfolder: '', type: 'output' }],
    });
  });

  it('SaveImage does not write through a file link leading out of output/ (a %batch_num% name is not counted past)', async () => {
    const elsewhere = mkdtempSync(join(tmpdir(), 'cones-save-out-'));
    const target = join(elsewhere, 'victim.png');
    writeFileSync(target, 'untouched');
    symlinkSync(target, join(h.service.env.dirs.output, 'batch0_00001_.png'));
    const r = await h.service.queuePrompt({
      prompt: {
        '1': { class_type: 'LoadImage', inputs: { image: 'sample.png' } },
        '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'batch%batch_num%' } },
      },
    });
    if (!r.ok) throw new Error(JSON.stringify(r));
    const entry = await h.service.waitForPrompt(r.prompt_id);
    expect(readFileSync(target, 'utf8')).toBe('untouched');
    expect(entry.status.status_str).toBe('error');
    const error = entry.status.messages.find(([t]) => t === 'execution_error')?.[1];
    expect(String(error?.exception_message)).toMatch(/symbolic link/);
  });

  it('SaveImage runs when extra_pnginfo is not an object (validation and execution both read it as empty)', async () => {
    const r = await h.service.queuePrompt({
      prompt: {
        '1': { class_type: 'LoadImage', inputs: { image: 'sample.png' } },
        '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'odd-pnginfo' } },
      },
      extra_data: { extra_pnginfo: 'not an object' },
    });
    if (!r.ok) throw new Error(JSON.stringify(r));
    const entry = await h.service.waitForPrompt(r.prompt_id);
    const error = entry.status.messages.find(([t]) => t === 'execution_error')?.[1];
    expect(error?.exception_message).toBeUndefined();
    expect(entry.status.status_str).toBe('success');
  });

  it('PreviewImage writes a PNG into temp/ under ComfyUI_temp_<5 letters>_ and reports type temp', async () => {
    const r = await h.service.queuePrompt({
      prompt: {
        '1': { class_type: 'LoadImage', inputs: { image: 'sample.png' } },
        '2': { class_type: 'PreviewImage', inputs: { images: ['1', 0] } },
      },
    });
    if (!r.ok) throw new Error(JSON.stringify(r));
    const entry = await h.service.waitForPrompt(r.prompt_id);
    expect(entry.status.status_str).toBe('success');
    const [image] = entry.outputs['2'].images as Array<{ filename: string; subfolder: string; type: string }>;
    expect(image.type).toBe('temp');
    expect(image.subfolder).toBe('');
    expect(image.filename).toMatch(/^ComfyUI_temp_[a-z]{5}_00001_\.png$/);
    const meta = await sharp(join(h.service.env.dirs.temp, image.filename)).metadata();
    expect([meta.width, meta.height, meta.format]).toEqual([6, 4, 'png']);
    expect(existsSync(join(h.service.env.dirs.output, image.filename))).toBe(false);
  });
});
