import { tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RuntimeSettingsError, resolveRuntimeSettings } from '../../src/shared/runtime-settings.js';

describe('runtime settings', () => {
  it('defaults without flags or variables', () => {
    expect(resolveRuntimeSettings({}, {})).toEqual({
      executionProvider: 'auto',
      dtype: 'float32',
      modelMemoryBytes: Math.floor(totalmem() * 0.6),
      threads: undefined,
      maxShapes: 4,
      attentionMapBytes: undefined, // the provider's default
      graphCacheDir: join(tmpdir(), 'cones-nodes-graphs'),
      graphCacheMaxBytes: 20 * 2 ** 30,
    });
  });

  it('takes the CONES_* variables as fallbacks and flags over them', () => {
    const env = {
      CONES_EXECUTION_PROVIDER: 'cpu',
      CONES_SD_DTYPE: 'float16',
      CONES_MODEL_MEMORY_MB: '512',
      CONES_ORT_THREADS: '3',
      CONES_SD_MAX_SHAPES: '2',
      CONES_ATTENTION_MAP_MB: '0',
      CONES_GRAPH_CACHE_DIR: '/env/graphs',
      CONES_GRAPH_CACHE_MAX_GB: '0.5',
    };
    expect(resolveRuntimeSettings({}, env)).toEqual({
      executionProvider: 'cpu',
      dtype: 'float16',
      modelMemoryBytes: 512 * 2 ** 20,
      threads: 3,
      maxShapes: 2,
      attentionMapBytes: 0, // no limit
      graphCacheDir: '/env/graphs',
      graphCacheMaxBytes: 2 ** 29,
    });
    const flags = {
      provider: 'cuda',
      threads: '8',
      'graph-cache-dir': '/flag/graphs',
      'graph-cache-max-gb': '0',
    };
    expect(resolveRuntimeSettings(flags, env)).toMatchObject({
      executionProvider: 'cuda',
      dtype: 'float16',
      threads: 8,
      graphCacheDir: '/flag/graphs',
      graphCacheMaxBytes: 0, // unlimited
    });
  });

  it('treats an empty variable as unset', () => {
    expect(resolveRuntimeSettings({}, { CONES_ORT_THREADS: '', CONES_SD_DTYPE: '' })).toMatchObject({
      threads: undefined,
      dtype: 'float32',
    });
  });

  it('refuses unusable values, naming the flag or variable they came from', () => {
    const bad: [Parameters<typeof resolveRuntimeSettings>, string][] = [
      [[{ dtype: 'float64' }, {}], "--dtype must be float32, float16; got 'float64'"],
      [
        [{}, { CONES_EXECUTION_PROVIDER: 'gpu' }],
        "CONES_EXECUTION_PROVIDER must be auto, cpu, cuda; got 'gpu'",
      ],
      [[{ 'model-memory-mb': '0' }, {}], "--model-memory-mb must be a positive number; got '0'"],
      [[{ threads: ' ' }, {}], "--threads must be a positive integer; got ' '"],
      [[{}, { CONES_SD_MAX_SHAPES: '2.5' }], "CONES_SD_MAX_SHAPES must be a positive integer; got '2.5'"],
      [
        [{ 'graph-cache-max-gb': '-1' }, {}],
        "--graph-cache-max-gb must be a number ≥ 0 (0 = unlimited); got '-1'",
      ],
      [
        [{ 'attention-map-mb': 'lots' }, {}],
        "--attention-map-mb must be a number ≥ 0 (0 = unlimited); got 'lots'",
      ],
      [
        [{}, { CONES_GRAPH_CACHE_MAX_GB: '20GB' }],
        "CONES_GRAPH_CACHE_MAX_GB must be a number ≥ 0 (0 = unlimited); got '20GB'",
      ],
    ];
    for (const [args, message] of bad) {
      expect(() => resolveRuntimeSettings(...args)).toThrow(RuntimeSettingsError);
      expect(() => resolveRuntimeSettings(...args)).toThrow(message);
    }
  });
});
