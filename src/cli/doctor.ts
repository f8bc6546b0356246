/**
 * `cones-nodes doctor`: what this machine can run — Node and onnxruntime versions, which execution
 * providers load (each is tried with a one-node model), and for those that don't, the exact reason —
 * and which front end `serve` would show at `/` with the same options.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { Builder } from '../onnx/builder.js';
import { diagnoseCuda, ortBindingDir, ortVersion } from '../onnx/providers.js';
import { encodeModel } from '../onnx/serialize.js';
import { briefError } from '../onnx/session.js';
import { type FrontEndChoice, locateFrontEnd } from '../server/front-end-locate.js';
import { parseCommandArgs } from './args.js';

export interface ProviderProbe {
  name: 'cpu' | 'cuda';
  ok: boolean;
  /** Why it does not load (ORT's error plus what ldd/the file check found). */
  reason?: string;
  ms: number;
}

export interface DoctorReport {
  node: string;
  onnxruntime: string;
  bindingDir: string;
  platform: string;
  cpu: { model: string; threads: number };
  memory: { totalGiB: number; freeGiB: number };
  gpu?: string;
  providers: ProviderProbe[];
  /** What `serve` with the same `--front-end`/`--comfyui-dir` would serve at `/`, or why nothing. */
  frontEnd: FrontEndChoice & { indexHtml?: boolean };
}

/** The `serve` options that decide the front end. */
export interface DoctorOptions {
  frontEnd?: string;
  comfyuiDir?: string;
}

async function probe(name: 'cpu' | 'cuda'): Promise<ProviderProbe> {
  const b = new Builder('probe');
  const x = b.input('x', 'float32', [4]);
  b.output(b.mul(x, 2), 'y');
  const t0 = performance.now();
  try {
    const s = await ort.InferenceSession.create(encodeModel(b.graph), { executionProviders: [name] });
    const out = await s.run({ x: new ort.Tensor('float32', Float32Array.from([1, 2, 3, 4]), [4]) });
    await s.release();
    if ((out.y.data as Float32Array)[3] !== 8) throw new Error(`wrong result ${out.y.data}`);
    return { name, ok: true, ms: performance.now() - t0 };
  } catch (e) {
    const reason = name === 'cuda' ? `${briefError(e)} — ${diagnoseCuda().summary}` : briefError(e);
    return { name, ok: false, reason, ms: performance.now() - t0 };
  }
}

function gpuInfo(): string | undefined {
  try {
    return execFileSync(
      'nvidia-smi',
      ['--query-gpu=name,driver_version,memory.total', '--format=csv,noheader'],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
        timeout: 10_000,
      },
    ).trim();
  } catch {
    return undefined;
  }
}

function frontEndReport(options: DoctorOptions): DoctorReport['frontEnd'] {
  const choice = locateFrontEnd(options);
  return choice.dir ? { ...choice, indexHtml: existsSync(join(choice.dir, 'index.html')) } : choice;
}

export async function collect(options: DoctorOptions = {}): Promise<DoctorReport> {
  // ORT prints provider load failures to stderr itself; the report below carries the reason instead.
  ort.env.logLevel = 'fatal';
  const cpus = os.cpus();
  const providers = [await probe('cpu'), await probe('cuda')];
  return {
    node: process.version,
    onnxruntime: ortVersion(),
    bindingDir: ortBindingDir(),
    platform: `${process.platform} ${process.arch}`,
    cpu: { model: cpus[0]?.model ?? 'unknown', threads: os.availableParallelism() },
    memory: { totalGiB: os.totalmem() / 2 ** 30, freeGiB: os.freemem() / 2 ** 30 },
    gpu: gpuInfo(),
    providers,
    frontEnd: frontEndReport(options),
  };
}

export function format(r: DoctorReport): string {
  const lines = [
    `node          ${r.node}`,
    `onnxruntime   ${r.onnxruntime} (onnxruntime-node, binding in ${r.bindingDir})`,
    `platform      ${r.platform}`,
    `cpu           ${r.cpu.threads} threads — ${r.cpu.model}`,
    `memory        ${r.memory.totalGiB.toFixed(1)} GiB total, ${r.memory.freeGiB.toFixed(1)} GiB free`,
    `gpu           ${r.gpu ?? 'none visible (nvidia-smi not found or no device)'}`,
    'execution providers:',
    ...r.providers.map(
      (p) =>
        `  ${p.name.padEnd(5)} ${p.ok ? `available (test session ${p.ms.toFixed(0)} ms)` : `NOT loadable: ${p.reason}`}`,
    ),
  ];
  const chosen = r.providers.find((p) => p.name === 'cuda')?.ok
    ? 'cuda'
    : r.providers.find((p) => p.ok)?.name;
  lines.push(`executionProvider 'auto' will use: ${chosen ?? 'nothing — no provider loads'}`);
  lines.push(`front end     ${formatFrontEnd(r.frontEnd)}`);
  return lines.join('\n');
}

function formatFrontEnd(f: DoctorReport['frontEnd']): string {
  if (f.dir === undefined) return `none — / shows the status page (${f.reason})`;
  const missing = f.indexHtml === false ? ' — WARNING: no index.html there' : '';
  return `${f.dir} (${f.from})${missing}`;
}

const USAGE = `Usage: cones-nodes doctor [--json] [--comfyui-dir DIR] [--front-end DIR]

Check Node, onnxruntime and which execution providers (CPU, CUDA) load on this machine, and for
each one that does not load, say exactly why (missing provider files or missing CUDA libraries).
Also say which front end 'cones-nodes serve' with the same --comfyui-dir/--front-end would serve
at / and from where, or why none (then / shows a status page).

  --json              print the report as JSON
  --comfyui-dir DIR   the ComfyUI install 'serve --comfyui-dir' would use
  --front-end DIR     the front end 'serve --front-end' would use`;

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommandArgs('cones-nodes doctor', USAGE, {
    args: argv,
    options: {
      json: { type: 'boolean' },
      'comfyui-dir': { type: 'string' },
      'front-end': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (typeof parsed === 'number') return parsed;
  const report = await collect({
    comfyuiDir: parsed.values['comfyui-dir'],
    frontEnd: parsed.values['front-end'],
  });
  console.log(parsed.values.json ? JSON.stringify(report, null, 2) : format(report));
  return report.providers.some((p) => p.ok) ? 0 : 1;
}
