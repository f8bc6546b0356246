/**
 * `cones-nodes worker --queue redis://…`: runs runtime tasks (sampling, extraction, …) for any number
 * of `serve --queue` fronts. Start one per device, on any number of machines.
 */
import { join, resolve } from 'node:path';
import {
  type DemoModel,
  demoModelUsage,
  ensureDemoCheckpoint,
  resolveDemoModel,
} from '../sd/demo-checkpoint.js';
import { RUNTIME_SETTING_OPTIONS } from '../shared/runtime-settings.js';
import {
  parseCommandArgs,
  runtimeSettingFlags,
  runtimeSettingsFromFlags,
  runtimeSettingsUsage,
  usageError,
} from './args.js';

export const usage = `Usage: cones-nodes worker --queue redis://HOST:PORT [options]

Takes runtime tasks from the Redis queue that 'cones-nodes serve --queue' fronts send, and runs them.
Start one worker per GPU (or CPU machine); each loads models from its own models folder, matched to
the front's by name and fingerprint, and keeps them loaded between tasks.

Options:
  --queue URL            the Redis the fronts use (redis://HOST:PORT[/DB]); required
  --data-dir DIR         this worker's data folder: models in DIR/models, built graphs in DIR/cache/onnx;
                         default ./data
  --models-dir DIR       models folder (its checkpoints/ subfolder is searched); default DATA-DIR/models
  --state-dir DIR        extraction state (ξ checkpoints, result and prior caches) on storage every worker
                         reaches, so a job taken over after a crash resumes where it stopped; default: the
                         folder the front names (<front data dir>/cache/cones: right when all share one disk)
  --device NAME          same as --provider (auto, cpu, cuda)
  --id NAME              worker name in logs and /system_stats; default HOST-PID
  --lock-ms N            a running task's lock lives N ms without renewal; after a crash the task moves to
                         another worker once the lock expired and a stalled check ran; default 30000
  --stalled-check-ms N   how often workers look for tasks of crashed workers; default 30000
${demoModelUsage(25)}
  -h, --help             this text

${runtimeSettingsUsage()}`;

function positiveInt(value: string | undefined, flag: string): number | undefined | string {
  if (value === undefined) return undefined;
  const n = Number(value);
  return Number.isInteger(n) && n > 0 ? n : `${flag} must be a positive integer, got '${value}'`;
}

export async function run(argv: string[]): Promise<number> {
  const args = parseCommandArgs('cones-nodes worker', usage, {
    args: argv,
    allowPositionals: false,
    options: {
      queue: { type: 'string' },
      'data-dir': { type: 'string' },
      'models-dir': { type: 'string' },
      'state-dir': { type: 'string' },
      device: { type: 'string' },
      id: { type: 'string' },
      'lock-ms': { type: 'string' },
      'stalled-check-ms': { type: 'string' },
      'demo-model': { type: 'string' },
      ...runtimeSettingFlags,
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (typeof args === 'number') return args;
  const v = args.values;
  if (!v.queue) return usageError('cones-nodes worker', '--queue redis://HOST:PORT is required', usage);
  if (!/^rediss?:\/\//.test(v.queue))
    return usageError('cones-nodes worker', `--queue must be a redis:// URL, got '${v.queue}'`, usage);
  if (v.device !== undefined && v.provider !== undefined && v.device !== v.provider)
    return usageError('cones-nodes worker', '--device and --provider name different providers', usage);
  const lockMs = positiveInt(v['lock-ms'], '--lock-ms');
  const stalledMs = positiveInt(v['stalled-check-ms'], '--stalled-check-ms');
  for (const problem of [lockMs, stalledMs])
    if (typeof problem === 'string') return usageError('cones-nodes worker', problem, usage);
  let demoModel: DemoModel;
  try {
    demoModel = resolveDemoModel(v['demo-model'], '--demo-model');
  } catch (error) {
    return usageError('cones-nodes worker', (error as Error).message, usage);
  }
  const dataDir = resolve(v['data-dir'] ?? './data');
  const graphCacheEnv = process.env[RUNTIME_SETTING_OPTIONS['graph-cache-dir'].env];
  const settings = runtimeSettingsFromFlags('cones-nodes worker', {
    ...v,
    provider: v.provider ?? v.device,
    'graph-cache-dir': v['graph-cache-dir'] ?? (graphCacheEnv ? undefined : join(dataDir, 'cache', 'onnx')),
  });
  if (typeof settings === 'number') return settings;
  const modelsDir = resolve(v['models-dir'] ?? join(dataDir, 'models'));
  const stateDir = v['state-dir'] === undefined ? undefined : resolve(v['state-dir']);
  // Like serve: the demo checkpoint is there from the start. The same --demo-model (or CONES_DEMO_MODEL)
  // as the fronts gives the same file, so the same fingerprint.
  await ensureDemoCheckpoint(join(modelsDir, 'checkpoints'), { model: demoModel });

  const { QueueWorker } = await import('../runtime/queue/queue-worker.js');
  const { displayUrl } = await import('../runtime/queue/wire.js');
  const shown = displayUrl(v.queue);
  const worker = new QueueWorker({
    url: v.queue,
    settings,
    modelsDir,
    stateDir,
    id: v.id,
    lockDurationMs: lockMs as number | undefined,
    stalledIntervalMs: stalledMs as number | undefined,
  });
  try {
    await worker.start();
  } catch (error) {
    console.error(`cones-nodes worker: cannot reach ${shown}: ${(error as Error).message}`);
    await worker.close();
    return 1;
  }
  console.log(
    `cones-nodes worker ${worker.id} taking tasks from ${shown} (provider ${settings.executionProvider}, models: ${modelsDir}, extraction state: ${stateDir ?? "the front's data folder"})`,
  );
  await new Promise<void>((done) => {
    const stop = (signal: string) => {
      console.log(`\n${signal}: finishing the running task, then stopping`);
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      done();
    };
    const onInt = () => stop('SIGINT');
    const onTerm = () => stop('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
  });
  await worker.close();
  // Connection libraries may keep timers after a close that Redis could not answer: do not linger.
  setTimeout(() => process.exit(0), 2000).unref();
  return 0;
}
