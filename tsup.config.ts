import { defineConfig } from 'tsup';

export default defineConfig([
  // Worker entry points must be separate files in dist/: worker_threads loads them by path.
  {
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
    // dist/web is the other build's (both run at once).
    clean: ['!web/**'],
    splitting: true,
    shims: false,
    banner: { js: '' },
  },
  // The front-end extension (web/): one ES module the server lists at GET /extensions.
  {
    entry: { 'cones-nodes': 'web/cones-nodes.ts' },
    outDir: 'dist/web',
    tsconfig: 'web/tsconfig.json',
    format: ['esm'],
    target: 'es2020',
    platform: 'browser',
    sourcemap: true,
    clean: true,
    splitting: false,
  },
]);
