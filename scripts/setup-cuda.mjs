#!/usr/bin/env node
/**
 * Opt-in CUDA for onnxruntime-node (never run at install): fetches the ORT 1.29.0 CUDA 13 provider
 * build published on the npm registry as com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9 (~180 MB)
 * with `npm pack` into a temp folder, and copies its provider .so files next to onnxruntime-node's
 * binding. The provider then needs the CUDA 13 runtime, cuBLAS 13 and cuDNN 9 on the library path.
 *
 *   npm run setup:cuda                     download with npm and install
 *   npm run setup:cuda -- --from file.tgz  install from a tarball you already have
 *   npm run setup:cuda -- --remove         delete the copied provider files again
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

const PACKAGE = 'com.github.asus4.onnxruntime.linux-x64-gpu';
const PACKAGE_VERSION = '0.4.9';
const ORT_VERSION = '1.29.0';
const PROVIDERS = [
  'libonnxruntime_providers_shared.so',
  'libonnxruntime_providers_cuda.so',
  'libonnxruntime_providers_tensorrt.so',
];

function fail(message) {
  console.error(`setup:cuda: ${message}`);
  process.exit(1);
}

const args = process.argv.slice(2);
const require = createRequire(import.meta.url);
const ortDir = dirname(require.resolve('onnxruntime-node/package.json'));
const ortVersion = JSON.parse(readFileSync(join(ortDir, 'package.json'), 'utf8')).version;
const bindingDir = join(ortDir, 'bin', 'napi-v6', process.platform, process.arch);

if (process.platform !== 'linux' || process.arch !== 'x64')
  fail(`only Linux x64 is supported (this is ${process.platform} ${process.arch})`);
if (ortVersion !== ORT_VERSION) {
  fail(
    `onnxruntime-node is ${ortVersion}; this provider build matches ${ORT_VERSION} exactly (ORT refuses a provider of another version)`,
  );
}
if (!existsSync(join(bindingDir, 'onnxruntime_binding.node')))
  fail(`no onnxruntime binding in ${bindingDir}`);

if (args.includes('--remove')) {
  for (const f of PROVIDERS) rmSync(join(bindingDir, f), { force: true });
  console.log(`removed the CUDA provider files from ${bindingDir}`);
  process.exit(0);
}

const work = mkdtempSync(join(tmpdir(), 'cones-cuda-'));
try {
  const fromIndex = args.indexOf('--from');
  let tarball;
  if (fromIndex >= 0) {
    tarball = resolve(args[fromIndex + 1] ?? fail('--from needs a .tgz path'));
  } else {
    console.log(`downloading ${PACKAGE}@${PACKAGE_VERSION} from the npm registry (~180 MB)…`);
    const out = execFileSync(
      'npm',
      ['pack', `${PACKAGE}@${PACKAGE_VERSION}`, '--pack-destination', work, '--silent'],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    tarball = join(work, out.trim().split('\n').pop());
  }
  if (!existsSync(tarball)) fail(`tarball not found: ${tarball}`);
  execFileSync('tar', ['-xzf', tarball, '-C', work], { stdio: 'inherit' });

  const found = new Map();
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (PROVIDERS.includes(entry.name) && p.includes(join('Linux', 'x64'))) found.set(entry.name, p);
    }
  };
  walk(join(work, 'package'));
  for (const need of PROVIDERS.slice(0, 2))
    if (!found.has(need)) fail(`${need} not found in ${PACKAGE}@${PACKAGE_VERSION}`);

  for (const [name, src] of found) {
    copyFileSync(src, join(bindingDir, name));
    console.log(`installed ${name} (${(statSync(src).size / 2 ** 20).toFixed(1)} MiB) → ${bindingDir}`);
  }

  let missing = [];
  try {
    const ldd = execFileSync('ldd', [join(bindingDir, 'libonnxruntime_providers_cuda.so')], {
      encoding: 'utf8',
    });
    missing = ldd
      .split('\n')
      .filter((l) => l.includes('not found'))
      .map((l) => l.trim().split(/\s+/)[0]);
  } catch {
    // no ldd: doctor will report what ORT says
  }
  if (missing.length) {
    console.log(`\nThe CUDA provider cannot find: ${missing.join(', ')}`);
    console.log(
      'Install the CUDA 13 runtime, cuBLAS 13 and cuDNN 9 (e.g. the nvidia-*-cu13 wheels or the CUDA toolkit)',
    );
    console.log('and add their lib folders to LD_LIBRARY_PATH before starting cones-nodes.');
  }
  console.log('\nCheck with: npx cones-nodes doctor   (or: npx tsx src/cli.ts doctor)');
} finally {
  rmSync(work, { recursive: true, force: true });
}
