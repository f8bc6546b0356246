/**
 * Where onnxruntime-node's binding lives, whether its CUDA provider is installed, and which shared
 * libraries that provider cannot find (ldd), so `auto` and `cones-nodes doctor` can say exactly why
 * CUDA is not used.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);

export const CUDA_SETUP_HINT =
  "run 'npm run setup:cuda' (installs the ORT 1.29.0 CUDA 13 provider), and put the CUDA 13 runtime, cuBLAS 13 and cuDNN 9 on LD_LIBRARY_PATH";

export function ortPackageDir(): string {
  return dirname(require.resolve('onnxruntime-node/package.json'));
}

export function ortVersion(): string {
  return JSON.parse(readFileSync(join(ortPackageDir(), 'package.json'), 'utf8')).version;
}

/** The folder holding onnxruntime_binding.node; provider .so files must sit next to it. */
export function ortBindingDir(): string {
  return join(ortPackageDir(), 'bin', 'napi-v6', process.platform, process.arch);
}

export interface CudaDiagnosis {
  providerPath: string;
  sharedPath: string;
  installed: boolean;
  /** Sonames ldd reports as "not found" for the CUDA provider library. */
  missingLibraries: string[];
  /** One line: what is wrong and what to do, or that nothing is wrong that can be seen without loading. */
  summary: string;
}

let cached: CudaDiagnosis | undefined;

export function diagnoseCuda(refresh = false): CudaDiagnosis {
  if (cached && !refresh) return cached;
  const dir = ortBindingDir();
  const providerPath = join(dir, 'libonnxruntime_providers_cuda.so');
  const sharedPath = join(dir, 'libonnxruntime_providers_shared.so');
  const absent = [providerPath, sharedPath].filter((p) => !existsSync(p));
  let missingLibraries: string[] = [];
  let summary: string;
  if (process.platform !== 'linux') {
    summary = `the CUDA provider setup here supports Linux x64 only (this is ${process.platform} ${process.arch})`;
  } else if (absent.length) {
    summary = `CUDA provider not installed: ${absent.map((p) => p.split('/').pop()).join(' and ')} missing in ${dir}; ${CUDA_SETUP_HINT}`;
  } else {
    missingLibraries = lddMissing(providerPath);
    summary = missingLibraries.length
      ? `CUDA provider installed but its libraries are not found: ${missingLibraries.join(', ')} (add the CUDA 13 / cuDNN 9 library folders to LD_LIBRARY_PATH)`
      : 'CUDA provider installed and its direct library dependencies resolve';
  }
  cached = { providerPath, sharedPath, installed: absent.length === 0, missingLibraries, summary };
  return cached;
}

/** Sonames that `ldd` cannot resolve for `lib` ([] when ldd is unavailable). */
export function lddMissing(lib: string): string[] {
  try {
    const out = execFileSync('ldd', [lib], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return out
      .split('\n')
      .filter((l) => l.includes('not found'))
      .map((l) => l.trim().split(/\s+/)[0]);
  } catch {
    return [];
  }
}
