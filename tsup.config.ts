import { defineConfig } from 'tsup';

// Worker entry points must be separate files in dist/: worker_threads loads them by path.
export default defineConfig({
  entry: {
    index: 'src/index.ts',
    cli: 'src/cli.ts',
    'runtime-worker': 'src/runtime/worker-main.ts',
  },
  format: ['esm'],
  target: 'node20',
  platform: 'node',
  dts: { entry: { index: 'src/index.ts' } },
  sourcemap: true,
  clean: true,
  splitting: true,
  shims: false,
  banner: { js: '' },
});
