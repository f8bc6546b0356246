/**
 * The extraction cache folder (`<data dir>/cache/cones`): ξ checkpoints of running extractions
 * (`state/`), finished results (`results/`, concept files named by the input hash) and generated prior
 * latents (`priors/`). Every write goes to a temporary name first and is renamed into place, so a crash
 * never leaves a half-written entry.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Concept } from '../concept.js';
import { decodeConcept, encodeConcept } from '../file.js';
import type { A2State } from './a2.js';

/** 2: ξ stored as float64 (version 1 held float32 ξ, which lost small updates). */
const STATE_VERSION = 2;

function atomicWrite(path: string, parts: Uint8Array[]): void {
  mkdirSync(join(path, '..'), { recursive: true });
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  writeFileSync(tmp, Buffer.concat(parts));
  renameSync(tmp, path);
}

function readOrUndefined(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch {
    return undefined;
  }
}

/** `[u32 header length][JSON header, padded to 4][float32 or float64 arrays in header order]`. */
function packArrays(header: Record<string, unknown>, arrays: (Float32Array | Float64Array)[]): Uint8Array[] {
  let json = Buffer.from(JSON.stringify(header));
  const pad = (4 - (json.length % 4)) % 4;
  json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(json.length);
  return [len, json, ...arrays.map((a) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength))];
}

function unpackArrays(buf: Buffer): {
  header: Record<string, unknown>;
  data: (length: number) => Float32Array;
  data64: (length: number) => Float64Array;
} {
  const n = buf.readUInt32LE(0);
  const header = JSON.parse(buf.subarray(4, 4 + n).toString('utf8')) as Record<string, unknown>;
  let offset = 4 + n;
  const take = (bytesLength: number): ArrayBuffer => {
    const bytes = buf.subarray(offset, offset + bytesLength);
    if (bytes.length !== bytesLength) throw new Error('truncated');
    offset += bytesLength;
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  };
  return {
    header,
    data: (length: number) => new Float32Array(take(length * 4)),
    data64: (length: number) => new Float64Array(take(length * 8)),
  };
}

export class ExtractionStore {
  constructor(readonly dir: string) {}

  statePath(hash: string): string {
    return join(this.dir, 'state', `${hash}.xi`);
  }

  resultPath(hash: string): string {
    return join(this.dir, 'results', `${hash}.cones.safetensors`);
  }

  priorsPath(hash: string): string {
    return join(this.dir, 'priors', `${hash}.f32`);
  }

  saveState(hash: string, state: A2State): void {
    const keys = [...state.xi.keys()];
    const header = {
      version: STATE_VERSION,
      step: state.step,
      losses: state.losses,
      keys: keys.map((k) => [k, state.xi.get(k)!.length]),
    };
    atomicWrite(
      this.statePath(hash),
      packArrays(
        header,
        keys.map((k) => state.xi.get(k)!),
      ),
    );
  }

  /** The saved state, or undefined when there is none or it is unreadable (then the run starts over). */
  loadState(hash: string): A2State | undefined {
    const buf = readOrUndefined(this.statePath(hash));
    if (!buf) return undefined;
    try {
      const { header, data64 } = unpackArrays(buf);
      if (header.version !== STATE_VERSION) return undefined;
      const xi = new Map<string, Float64Array>();
      for (const [key, length] of header.keys as [string, number][]) xi.set(key, data64(length));
      return { step: header.step as number, losses: header.losses as number[], xi };
    } catch {
      return undefined;
    }
  }

  clearState(hash: string): void {
    rmSync(this.statePath(hash), { force: true });
  }

  saveResult(hash: string, concept: Concept): void {
    atomicWrite(this.resultPath(hash), [encodeConcept(concept).bytes]);
  }

  loadResult(hash: string): Concept | undefined {
    const buf = readOrUndefined(this.resultPath(hash));
    if (!buf) return undefined;
    try {
      return decodeConcept(new Uint8Array(buf), `cached extraction ${hash}`);
    } catch {
      return undefined; // damaged entry: extract again (and overwrite it)
    }
  }

  savePriors(hash: string, latents: Float32Array, shape: number[]): void {
    atomicWrite(this.priorsPath(hash), packArrays({ shape }, [latents]));
  }

  loadPriors(hash: string): { data: Float32Array; shape: number[] } | undefined {
    const buf = readOrUndefined(this.priorsPath(hash));
    if (!buf) return undefined;
    try {
      const { header, data } = unpackArrays(buf);
      const shape = header.shape as number[];
      return { shape, data: data(shape.reduce((a, b) => a * b, 1)) };
    } catch {
      return undefined;
    }
  }
}
