/**
 * `cones-nodes run` on a PNG whose run extracted a concept: in a fresh data folder (no concept files,
 * no subject photos) it gives the identical pixels without extracting. The PNG comes from a second run
 * on the first machine in which Extract Concept was served from the output cache, so a cached node
 * carries its concept too.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { run } from '../../src/cli/run.js';
import { createPromptService } from '../../src/engine/prompt-service.js';
import type { HistoryEntry } from '../../src/engine/service-types.js';
import { readPngText } from '../../src/image/png-text.js';
import { extractionPrompt, SUBJECT, subjectPhoto } from '../cones/carried-fixtures.js';

process.env.CONES_EXECUTION_PROVIDER = 'cpu';
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const tempDir = (prefix: string) => {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
};

const savedFile = (root: string, entry: HistoryEntry) => {
  const image = (entry.outputs['10'] as { images: Array<{ filename: string; subfolder: string }> }).images[0];
  return join(root, 'output', image.subfolder, image.filename);
};
const pixels = async (file: string) => (await sharp(file).raw().toBuffer()).toString('base64');

describe('cones-nodes run on a PNG that carries its concept', () => {
  it('gives the identical pixels in a fresh data folder without photos, and never extracts', async () => {
    const first = tempDir('cones-carried-a-');
    mkdirSync(join(first, 'input', SUBJECT), { recursive: true });
    for (const i of [1, 2]) writeFileSync(join(first, 'input', SUBJECT, `${i}.png`), await subjectPhoto(i));
    const service = createPromptService({ dataDir: first, log: () => {} });
    let firstPng: string;
    let cachedPng: string;
    try {
      const once = async (prefix: string) => {
        const q = await service.queuePrompt({ client_id: 'a', prompt: extractionPrompt(prefix) as never });
        if (!q.ok) throw new Error(JSON.stringify(q));
        const entry = await service.waitForPrompt(q.prompt_id);
        expect(entry.status.status_str).toBe('success');
        return entry;
      };
      firstPng = savedFile(first, await once('first'));
      const second = await once('second'); // only SaveImage runs again
      const cachedNodes = second.status.messages.find(([type]) => type === 'execution_cached')?.[1].nodes;
      expect(cachedNodes).toContain('3');
      cachedPng = savedFile(first, second);
    } finally {
      await service.close();
    }
    expect(JSON.parse(readPngText(readFileSync(cachedPng)).prompt)['3']._meta.cones_concept.key).toMatch(
      /^[0-9a-f]{32}$/,
    );

    const fresh = tempDir('cones-carried-b-');
    let out = '';
    let err = '';
    const log = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => {
      out += `${a.join(' ')}\n`;
    });
    const error = vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => {
      err += `${a.join(' ')}\n`;
    });
    let code: number;
    try {
      code = await run([cachedPng, '--data-dir', fresh, '--quiet']);
    } finally {
      log.mockRestore();
      error.mockRestore();
    }
    expect(err).toBe('');
    expect(code).toBe(0);
    const written = out.trim();
    expect(written.startsWith(join(fresh, 'output'))).toBe(true);
    expect(await pixels(written)).toBe(await pixels(firstPng));
    expect(existsSync(join(fresh, 'input', SUBJECT))).toBe(false);
    expect(existsSync(join(fresh, 'cache', 'cones'))).toBe(false);
  }, 240_000);
});
