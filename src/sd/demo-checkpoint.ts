/**
 * The built-in demo checkpoint, `tiny-sd1-demo.safetensors`, which the service puts into its own
 * checkpoints folder on first start so a fresh install has a model to run. Two kinds:
 *
 * - 'shipped' (the default): the small SD1-architecture model trained on the toy world (coloured
 *   shapes on plain backgrounds, src/train), committed at `assets/models/tiny-sd1-demo.safetensors`
 *   and copied as is: no generation step. A package without that file (e.g. a clone made before it
 *   was committed) falls back to 'random'.
 * - 'random': TINY_SD1_CONFIG with random weights from seed 0 (what `make-tiny-model` writes). The
 *   tests ask for it (fast, fixed pixels); `CONES_DEMO_MODEL=random` or `--demo-model random` too.
 *
 * A file of that name already in the folder is left alone, with two exceptions when the mode is
 * 'shipped': the random demo that earlier versions generated (its metadata says
 * `cones.random_weights=true`, `cones.generator=cones-nodes make-tiny-model`), and an earlier shipped
 * model this service placed and nobody changed since (its size and mtime still match the record
 * `.tiny-sd1-demo.placed.json` written next to it) when the package now ships a different one (a newer
 * training run): both are replaced by the shipped model. Every write goes to a temporary name first and
 * is renamed into place, so readers and concurrent starts never see half a file.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { assetPath } from '../shared/assets.js';
import { SafetensorsFile } from './checkpoint/safetensors-reader.js';
import { DEMO_CHECKPOINT_NAME, RANDOM_GENERATOR, writeTinyModel } from './tiny-model.js';

export type DemoModel = 'shipped' | 'random';
export const DEMO_MODELS: readonly DemoModel[] = ['shipped', 'random'];
/** Environment fallback for `--demo-model` / the server's `demoCheckpoint` option. */
export const DEMO_MODEL_ENV = 'CONES_DEMO_MODEL';

/**
 * `--help` lines of the `--demo-model` flag (serve, worker), its text starting at `column`: the one
 * place its values and default are told.
 */
export function demoModelUsage(column: number): string {
  const lines = [
    'the demo checkpoint (tiny-sd1-demo.safetensors) placed in models/checkpoints when',
    'missing: shipped (the trained toy-world model; random weights where this package',
    'has none) or random (random tiny SD1 weights, what the tests use). Or set',
    `${DEMO_MODEL_ENV}; default shipped`,
  ];
  return lines.map((line, i) => (i === 0 ? '  --demo-model KIND' : '').padEnd(column) + line).join('\n');
}

/** Where the package keeps the trained demo model (it may be absent). */
export function shippedDemoCheckpointPath(): string {
  return assetPath('models', DEMO_CHECKPOINT_NAME);
}

/** `value` as a DemoModel; throws naming `source` (a flag, variable or option) when it is not one. */
export function parseDemoModel(value: string, source: string): DemoModel {
  if ((DEMO_MODELS as readonly string[]).includes(value)) return value as DemoModel;
  throw new Error(`${source} must be ${DEMO_MODELS.join(' or ')}, got '${value}'`);
}

/**
 * The explicit choice (from `source`: a flag or option name), else `CONES_DEMO_MODEL`, else 'shipped'.
 * Throws, naming where the value came from, on one it cannot use.
 */
export function resolveDemoModel(
  explicit?: string,
  source = 'demoCheckpoint',
  env: NodeJS.ProcessEnv = process.env,
): DemoModel {
  if (explicit !== undefined) return parseDemoModel(explicit, source);
  const fromEnv = env[DEMO_MODEL_ENV];
  if (fromEnv === undefined || fromEnv === '') return 'shipped';
  return parseDemoModel(fromEnv, DEMO_MODEL_ENV);
}

export interface EnsureDemoOptions {
  /** Default: `resolveDemoModel()` (CONES_DEMO_MODEL, else 'shipped'). */
  model?: DemoModel;
  /** The trained file 'shipped' copies; default `shippedDemoCheckpointPath()`. */
  shippedFile?: string;
  /** Where the line saying that an old random demo was replaced goes; default stderr. */
  log?: (line: string) => void;
}

/**
 * What happened: 'kept' (a file was there and stays), 'copied' (the shipped model was placed),
 * 'upgraded' (an old generated random demo was replaced by the shipped model), 'generated' (random
 * weights were written).
 */
export type DemoAction = 'kept' | 'copied' | 'upgraded' | 'generated';

export interface DemoPlacement {
  path: string;
  action: DemoAction;
}

/** `placeDemoCheckpoint`'s path: where `tiny-sd1-demo.safetensors` is once it resolves. */
export async function ensureDemoCheckpoint(
  checkpointsDir: string,
  options: EnsureDemoOptions = {},
): Promise<string> {
  return (await placeDemoCheckpoint(checkpointsDir, options)).path;
}

/**
 * Puts `tiny-sd1-demo.safetensors` into `checkpointsDir` (see the module comment for which file and
 * when) and says what it did. Safe to call concurrently, also from several processes: each write
 * lands by rename.
 */
export async function placeDemoCheckpoint(
  checkpointsDir: string,
  options: EnsureDemoOptions = {},
): Promise<DemoPlacement> {
  const path = join(checkpointsDir, DEMO_CHECKPOINT_NAME);
  const model = options.model ?? resolveDemoModel();
  const shipped = options.shippedFile ?? shippedDemoCheckpointPath();
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const wantShipped = model === 'shipped' && existsSync(shipped);
  if (existsSync(path)) {
    if (!wantShipped) return { path, action: 'kept' };
    const replaced = (await isGeneratedRandomDemo(path))
      ? 'the random-weights demo checkpoint'
      : (await isOlderShippedDemo(path, shipped))
        ? 'the earlier trained demo checkpoint'
        : undefined;
    if (!replaced || !(await readable(shipped, log))) return { path, action: 'kept' };
    await placeShipped(shipped, path);
    log(`cones-nodes: replaced ${replaced} ${path} with the trained demo model shipped in ${shipped}`);
    return { path, action: 'upgraded' };
  }
  await mkdir(checkpointsDir, { recursive: true });
  if (wantShipped && (await readable(shipped, log))) {
    await placeShipped(shipped, path);
    return { path, action: 'copied' };
  }
  await writeTinyModel(path, { seed: 0 });
  return { path, action: 'generated' };
}

/**
 * Whether the shipped file is a complete safetensors file (its header checks tensor offsets against
 * the file size), so a truncated copy or a Git LFS pointer never becomes the user's demo model.
 */
async function readable(shipped: string, log: (line: string) => void): Promise<boolean> {
  try {
    await (await SafetensorsFile.open(shipped)).close();
    return true;
  } catch (error) {
    log(
      `cones-nodes: the shipped demo model is unusable (${(error as Error).message}); using random weights`,
    );
    return false;
  }
}

/**
 * True for a file `make-tiny-model` wrote (the random demo earlier versions generated on first
 * start); false for anything else, including files that are not safetensors at all.
 */
export async function isGeneratedRandomDemo(path: string): Promise<boolean> {
  let file: SafetensorsFile;
  try {
    file = await SafetensorsFile.open(path);
  } catch {
    return false; // not ours to judge: the user's file, left alone
  }
  try {
    return (
      file.metadata['cones.random_weights'] === 'true' &&
      file.metadata['cones.generator'] === RANDOM_GENERATOR
    );
  } finally {
    await file.close();
  }
}

/** What was placed: the shipped file's hash, and the placed copy's size and mtime (to see it unchanged). */
interface PlacedRecord {
  sha256: string;
  size: number;
  mtimeMs: number;
}

const placedRecordPath = (path: string) =>
  join(dirname(path), `.${basename(path, '.safetensors')}.placed.json`);

async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function placeShipped(shipped: string, path: string): Promise<void> {
  const sha256 = await sha256Of(shipped);
  await copyIntoPlace(shipped, path);
  const { size, mtimeMs } = await stat(path);
  const record: PlacedRecord = { sha256, size, mtimeMs };
  await writeFile(placedRecordPath(path), `${JSON.stringify(record)}\n`);
}

/**
 * True when `path` is a shipped model this service placed, unchanged since (size and mtime as
 * recorded), and the package now ships a different file.
 */
async function isOlderShippedDemo(path: string, shipped: string): Promise<boolean> {
  let record: PlacedRecord;
  try {
    record = JSON.parse(await readFile(placedRecordPath(path), 'utf8')) as PlacedRecord;
  } catch {
    return false; // no record: not placed by us (or placed before records existed), so the user's
  }
  const now = await stat(path);
  if (now.size !== record.size || now.mtimeMs !== record.mtimeMs) return false;
  return (await sha256Of(shipped)) !== record.sha256;
}

async function copyIntoPlace(source: string, target: string): Promise<void> {
  const temp = `${target}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await copyFile(source, temp);
    await rename(temp, target);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}
