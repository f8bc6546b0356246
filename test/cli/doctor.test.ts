import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { collect, format, run } from '../../src/cli/doctor.js';
import { diagnoseCuda } from '../../src/onnx/providers.js';
import { comfyWithoutFrontEnd, comfyWithVenv } from '../server/fake-comfyui.js';

describe('cones-nodes doctor', () => {
  it('reports CPU as available and, when CUDA does not load, names what is missing', async () => {
    const report = await collect();
    const cpu = report.providers.find((p) => p.name === 'cpu')!;
    const cuda = report.providers.find((p) => p.name === 'cuda')!;
    expect(cpu.ok).toBe(true);
    expect(report.onnxruntime).toBe('1.29.0');
    expect(report.cpu.threads).toBeGreaterThan(0);
    const text = format(report);
    expect(text).toMatch(/cpu\s+available/);
    if (!cuda.ok) {
      const d = diagnoseCuda();
      expect(text).toMatch(/cuda\s+NOT loadable/);
      if (!d.installed) expect(cuda.reason).toMatch(/libonnxruntime_providers_cuda\.so.*missing.*setup:cuda/);
      else if (d.missingLibraries.length) expect(cuda.reason).toContain(d.missingLibraries[0]);
      expect(text).toMatch(/'auto' will use: cpu/);
    } else {
      expect(text).toMatch(/'auto' will use: cuda/);
    }
  });

  it('says which front end serve --comfyui-dir would serve and from where, or why none', async () => {
    const root = await mkdtemp(join(tmpdir(), 'cones-doctor-'));
    try {
      const { install, staticDir } = await comfyWithVenv(join(root, 'with'), '1.44.19');
      const printed: string[] = [];
      const spy = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
        printed.push(args.join(' '));
      });
      try {
        expect(await run(['--json', '--comfyui-dir', install])).toBe(0);
      } finally {
        spy.mockRestore();
      }
      const report = JSON.parse(printed.join('\n'));
      expect(report.frontEnd).toMatchObject({
        dir: staticDir,
        source: 'package',
        version: '1.44.19',
        indexHtml: true,
      });
      expect(format(report)).toContain(
        `front end     ${staticDir} (comfyui-frontend-package 1.44.19 in ${join(install, 'venv')})`,
      );

      const without = await comfyWithoutFrontEnd(join(root, 'without'));
      const none = await collect({ comfyuiDir: without.install });
      expect(format(none)).toMatch(
        /front end {5}none — \/ shows the status page \(.*no comfyui_frontend_package/,
      );
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
