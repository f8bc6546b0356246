import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { DataDirs } from '../shared/types.js';

export interface DataDirOptions {
  /** The service's own data folder (default layout: models/, input/, output/, temp/, user/). */
  dataDir: string;
  /**
   * An existing ComfyUI install: its input/output/temp/user folders are used directly, and its model
   * folders come first in every model list (first entry = where new files are written).
   */
  comfyuiDir?: string;
}

/** Model folder names (ComfyUI `folder_paths` keys) the service knows; the first two are always created. */
const CREATED_MODEL_FOLDERS = ['checkpoints', 'concepts'] as const;
const LISTED_MODEL_FOLDERS = ['diffusers', 'vae', 'embeddings'] as const;

/** Resolves (and creates) the folders the service reads and writes. */
export function resolveDataDirs(options: DataDirOptions): DataDirs {
  const root = resolve(options.dataDir);
  const comfy = options.comfyuiDir ? resolve(options.comfyuiDir) : undefined;
  const base = comfy ?? root;
  const models: Record<string, string[]> = {};
  for (const name of [...CREATED_MODEL_FOLDERS, ...LISTED_MODEL_FOLDERS]) {
    const own = join(root, 'models', name);
    models[name] = comfy ? [join(comfy, 'models', name), own] : [own];
  }
  const dirs: DataDirs = {
    root,
    input: join(base, 'input'),
    output: join(base, 'output'),
    temp: join(base, 'temp'),
    user: join(base, 'user'),
    models,
  };
  for (const dir of [dirs.input, dirs.output, dirs.temp, dirs.user]) mkdirSync(dir, { recursive: true });
  for (const name of CREATED_MODEL_FOLDERS)
    for (const dir of models[name]) mkdirSync(dir, { recursive: true });
  return dirs;
}
