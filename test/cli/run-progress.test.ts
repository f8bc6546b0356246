/**
 * Issue #2 item 8: `cones-nodes run` draws a terminal progress bar on a TTY (one line redrawn in
 * place) and plain lines otherwise. The plain-line case is covered in run.test.ts; here stderr
 * claims to be a TTY.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { run } from '../../src/cli/run.js';
import { assetPath } from '../../src/shared/assets.js';

const dataDir = mkdtempSync(join(tmpdir(), 'cones-run-tty-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

async function runAs(tty: boolean, args: string[]): Promise<{ code: number; err: string }> {
  let err = '';
  const wasTty = Object.getOwnPropertyDescriptor(process.stderr, 'isTTY');
  Object.defineProperty(process.stderr, 'isTTY', { value: tty, configurable: true });
  const log = vi.spyOn(console, 'log').mockImplementation(() => {});
  const write = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    err += String(chunk);
    return true;
  });
  try {
    return { code: await run(args), err };
  } finally {
    write.mockRestore();
    log.mockRestore();
    if (wasTty) Object.defineProperty(process.stderr, 'isTTY', wasTty);
    else delete (process.stderr as { isTTY?: boolean }).isTTY;
  }
}

describe('cones-nodes run progress', () => {
  const txt2img = join(assetPath('..'), 'examples', 'workflows', 'txt2img.api.json');

  it('redraws one progress bar line per node on a TTY', async () => {
    const { code, err } = await runAs(true, [txt2img, '--data-dir', dataDir]);
    expect(code).toBe(0);
    // KSampler (node 3) reports each of its 8 steps as a redraw of the same line, ending full
    const redraws = err.split('\r\x1b[2K').filter((s) => s.startsWith('#3 KSampler ['));
    expect(redraws.length).toBe(8);
    expect(redraws[0]).toMatch(/^#3 KSampler \[#{3,4}-{26,27}\] 1\/8/);
    expect(redraws[7]).toMatch(/^#3 KSampler \[#{30}\] 8\/8\n/);
    expect(err).not.toContain('  #3 KSampler: ');
  });

  it('prints plain lines, no carriage returns, when stderr is not a TTY', async () => {
    const { code, err } = await runAs(false, [txt2img, '--data-dir', dataDir]);
    expect(code).toBe(0);
    expect(err).not.toContain('\r');
    expect(err).toContain('running #3 KSampler\n');
    expect(err).toContain('  #3 KSampler: 8/8\n');
  });
});
