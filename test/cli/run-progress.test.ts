/**
 * Issue #2 item 8: `cones-nodes run` draws a terminal progress bar on a TTY (one line redrawn in
 * place) and plain lines otherwise. The plain-line case is covered in run.test.ts; here stderr
 * claims to be a TTY.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
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
  /** The example's KSampler steps (node 3): the bar counts exactly these. */
  const steps: number = JSON.parse(readFileSync(txt2img, 'utf8'))['3'].inputs.steps;

  it('redraws one progress bar line per node on a TTY', async () => {
    const { code, err } = await runAs(true, [txt2img, '--data-dir', dataDir]);
    expect(code).toBe(0);
    // KSampler (node 3) reports each of its steps as a redraw of the same line, ending full
    const redraws = err.split('\r\x1b[2K').filter((s) => s.startsWith('#3 KSampler ['));
    expect(redraws.length).toBe(steps);
    expect(redraws[0]).toMatch(
      new RegExp(`^#3 KSampler \\[#{${Math.floor(30 / steps)},${Math.ceil(30 / steps)}}-+\\] 1/${steps}`),
    );
    expect(redraws[steps - 1]).toMatch(new RegExp(`^#3 KSampler \\[#{30}\\] ${steps}/${steps}\n`));
    expect(err).not.toContain('  #3 KSampler: ');
  });

  it('prints plain lines, no carriage returns, when stderr is not a TTY', async () => {
    const { code, err } = await runAs(false, [txt2img, '--data-dir', dataDir]);
    expect(code).toBe(0);
    expect(err).not.toContain('\r');
    expect(err).toContain('running #3 KSampler\n');
    expect(err).toContain(`  #3 KSampler: ${steps}/${steps}\n`);
  });
});
