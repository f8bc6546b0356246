import { describe, expect, it } from 'vitest';
import { collect, format } from '../../src/cli/doctor.js';
import { diagnoseCuda } from '../../src/onnx/providers.js';

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
});
