/**
 * `cones-nodes serve [options]`: the HTTP + WebSocket service (ComfyUI protocol and the native protocol).
 */
import { resolveDataDirs } from '../engine/data-dirs.js';
import type { QueueRuntime } from '../runtime/queue/queue-runtime.js';
import { type DemoModel, demoModelUsage, resolveDemoModel } from '../sd/demo-checkpoint.js';
import type { RunningServer } from '../server/options.js';
import { authTokenProblem, MIN_AUTH_TOKEN_LENGTH } from '../server/security.js';
import { startServer } from '../server/start-server.js';
import { RUNTIME_SETTING_NAMES } from '../shared/runtime-settings.js';
import {
  parseCommandArgs,
  runtimeSettingFlags,
  runtimeSettingsFromFlags,
  runtimeSettingsUsage,
} from './args.js';

export const usage = `Usage: cones-nodes serve [options]

Starts the service: ComfyUI's HTTP routes and /ws WebSocket (front ends, SDKs and scripts work
unmodified) and the native protocol at /native (JSON or msgpack frames, schemas/protocol/).

Options:
  --host HOST          address to bind; default 127.0.0.1 (loopback only)
  --port PORT          default 8189; 0 picks a free port
  --data-dir DIR       data folder (models/, input/, output/, temp/, user/); default ./data
  --comfyui-dir DIR    use an existing ComfyUI install's folders and models, and serve the front end
                       installed in its Python environment (comfyui-frontend-package) at /
  --front-end DIR      serve this built ComfyUI front end (its dist/ folder) at / instead
  --auth-token TOKEN   require this token (Authorization: Bearer, ?token=, or the cookie /?token= sets);
                       at least ${MIN_AUTH_TOKEN_LENGTH} printable ASCII characters. Or set CONES_AUTH_TOKEN
                       (better: other local users can read a command line)
  --insecure           allow a non-loopback --host without --auth-token
  --enable-cors-header ORIGIN
                       allow cross-origin browser requests from ORIGIN ('*' for any), as ComfyUI's flag
  --max-upload-mb N    largest accepted upload; default 100
${demoModelUsage(23)}
  --log                log every request
  --queue URL          distributed mode: run no models here; send runtime tasks through the Redis at URL
                       (redis://HOST:PORT[/DB]) to 'cones-nodes worker --queue URL' processes. The
                       worker settings below then belong on the workers' command lines
  -h, --help           this text

${runtimeSettingsUsage()}

Binding anything but loopback without --auth-token is refused: anyone who can reach the port could
run prompts and read your outputs.`;

export async function run(argv: string[]): Promise<number> {
  const args = parse(argv);
  if (typeof args === 'number') return args;
  const v = args.values;
  const port = v.port === undefined ? 8189 : Number(v.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`cones-nodes serve: --port must be 0..65535, got '${v.port}'`);
    return 2;
  }
  const maxUploadMb = v['max-upload-mb'] === undefined ? 100 : Number(v['max-upload-mb']);
  if (!(maxUploadMb > 0)) {
    console.error(`cones-nodes serve: --max-upload-mb must be positive, got '${v['max-upload-mb']}'`);
    return 2;
  }
  const authToken = v['auth-token'] ?? process.env.CONES_AUTH_TOKEN;
  const tokenProblem = authToken === undefined ? null : authTokenProblem(authToken);
  if (tokenProblem) {
    const source = v['auth-token'] === undefined ? 'CONES_AUTH_TOKEN' : '--auth-token';
    console.error(`cones-nodes serve: ${source}: ${tokenProblem}`);
    return 2;
  }
  let demoModel: DemoModel;
  try {
    demoModel = resolveDemoModel(v['demo-model'], '--demo-model');
  } catch (error) {
    console.error(`cones-nodes serve: ${(error as Error).message}`);
    return 2;
  }
  const runtimeSettings = runtimeSettingsFromFlags('cones-nodes serve', v);
  if (typeof runtimeSettings === 'number') return runtimeSettings;
  const dataDir = v['data-dir'] ?? './data';
  let queue: QueueRuntime | undefined;
  if (v.queue !== undefined) {
    if (!/^rediss?:\/\//.test(v.queue)) {
      console.error(`cones-nodes serve: --queue must be a redis:// URL, got '${v.queue}'`);
      return 2;
    }
    const given = RUNTIME_SETTING_NAMES.filter((name) => v[name] !== undefined);
    if (given.length > 0)
      console.warn(
        `cones-nodes serve: ${given.map((n) => `--${n}`).join(', ')} ignored with --queue: the workers run the models; give them to 'cones-nodes worker'`,
      );
    const dirs = resolveDataDirs({ dataDir, comfyuiDir: v['comfyui-dir'] });
    // Loaded only in distributed mode: the single-process service never imports BullMQ.
    const { QueueRuntime } = await import('../runtime/queue/queue-runtime.js');
    try {
      queue = await QueueRuntime.connect({
        url: v.queue,
        checkpointFolders: dirs.models.checkpoints ?? [],
        log: (line) => process.stderr.write(`${line}\n`),
      });
    } catch (error) {
      console.error(`cones-nodes serve: ${(error as Error).message}`);
      return 1;
    }
  }
  let server: RunningServer;
  try {
    server = await startServer({
      host: v.host ?? '127.0.0.1',
      port,
      dataDir,
      comfyuiDir: v['comfyui-dir'],
      frontEnd: v['front-end'],
      authToken,
      insecure: v.insecure,
      corsOrigin: v['enable-cors-header'],
      logger: v.log,
      limits: { maxUploadBytes: Math.round(maxUploadMb * 1024 * 1024) },
      demoCheckpoint: demoModel,
      serviceOptions: { runtimeSettings, ...(queue && { runtime: queue }) },
      ...(queue && { runtimeDevices: () => queue.devices() }),
    });
  } catch (error) {
    await queue?.close();
    throw error;
  }
  for (const line of banner(server, authToken !== undefined)) console.log(line);
  if (queue) console.log(`  runtime: no models here; tasks go to the workers on ${queue.url}`);

  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      console.log(`\n${signal}: shutting down`);
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      resolve();
    };
    const onInt = () => stop('SIGINT');
    const onTerm = () => stop('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
  });
  await server.close();
  await queue?.close();
  return 0;
}

/** What the service tells the user at start; never the token itself. */
function banner(server: RunningServer, tokenRequired: boolean): string[] {
  const { listen, url } = server;
  const lines = listen.allInterfaces
    ? [
        `cones-nodes listening on all interfaces (${listen.address} port ${listen.port}) (data: ${server.dirs.root})`,
        `  this machine: ${url}${listen.networkUrls.length > 0 ? `  other machines: ${listen.networkUrls.join(', ')}` : ''}`,
      ]
    : [`cones-nodes listening on ${url} (data: ${server.dirs.root})`];
  lines.push(`  ComfyUI clients: ${url}  WebSocket: ${url.replace('http', 'ws')}/ws  native: /native`);
  lines.push(frontEndLine(server));
  if (tokenRequired) {
    lines.push(
      `  auth token required: send 'Authorization: Bearer <token>', or open ${url}/?token=<token> once in a browser`,
    );
  }
  return lines;
}

function frontEndLine({ frontEnd, url }: RunningServer): string {
  if (frontEnd.dir === undefined)
    return `  front end: none (${frontEnd.reason}); ${url}/ shows a status page`;
  return `  front end: ${url}/ serves ${frontEnd.dir} (${frontEnd.from})`;
}

function parse(argv: string[]) {
  return parseCommandArgs('cones-nodes serve', usage, {
    args: argv,
    allowPositionals: false,
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      'data-dir': { type: 'string' },
      'comfyui-dir': { type: 'string' },
      'front-end': { type: 'string' },
      'auth-token': { type: 'string' },
      insecure: { type: 'boolean' },
      'enable-cors-header': { type: 'string' },
      'max-upload-mb': { type: 'string' },
      'demo-model': { type: 'string' },
      log: { type: 'boolean' },
      queue: { type: 'string' },
      ...runtimeSettingFlags,
      help: { type: 'boolean', short: 'h' },
    },
  });
}
