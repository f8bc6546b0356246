/**
 * The extraction cache folder (`<data dir>/cache/cones`): ξ checkpoints of running extractions
 * (`state/`), finished results (`results/`, concept files named by the input hash) and generated prior
 * latents (`priors/`). Writes are atomic (atomic-write.ts) and every entry carries a checksum (the
 * concept file's own, or checked-file.ts's digest), so a damaged entry is discarded with a warning and
 * recomputed, never used.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Concept } from '../concept.js';
import { decodeConcept, encodeConcept } from '../file.js';
import type { A2State } from './a2.js';
import { atomicWrite } from './atomic-write.js';
import { CacheEntryError, type CheckedEntry, packChecked, unpackChecked } from './checked-file.js';

/** 3: checksummed (checked-file.ts). 2: ξ as float64. 1: float32 ξ, which lost small updates. */
const STATE_VERSION = 3;
/** 2: checksummed. 1 (no version field): bare float32 latents. */
const PRIORS_VERSION = 2;

function readOrUndefined(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch {
    return undefined;
  }
}

function isStringNumberPair(v: unknown): v is [string, number] {
  return (
    Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && Number.isInteger(v[1]) && v[1] >= 0
  );
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

  /** Removes a damaged entry (so the warning is not repeated) and says so. */
  private discard(path: string, reason: string): undefined {
    console.warn(
      `cones: discarding extraction cache entry ${relative(this.dir, path)}: ${reason}; recomputing it`,
    );
    rmSync(path, { force: true });
    return undefined;
  }

  /** Reads a checked entry: undefined when absent, discarded (undefined) when damaged. */
  private readChecked<T>(path: string, version: number, read: (entry: CheckedEntry) => T): T | undefined {
    const buf = readOrUndefined(path);
    if (!buf) return undefined;
    try {
      const entry = unpackChecked(buf, version);
      const value = read(entry);
      entry.end();
      return value;
    } catch (e) {
      if (e instanceof CacheEntryError) return this.discard(path, e.message);
      throw e;
    }
  }

  saveState(hash: string, state: A2State): void {
    const keys = [...state.xi.keys()];
    const header = {
      step: state.step,
      losses: state.losses,
      keys: keys.map((k) => [k, state.xi.get(k)!.length]),
    };
    atomicWrite(
      this.statePath(hash),
      packChecked(
        STATE_VERSION,
        header,
        keys.map((k) => state.xi.get(k)!),
      ),
    );
  }

  /** The saved state, or undefined when there is none or it is damaged (then the run starts over). */
  loadState(hash: string): A2State | undefined {
    return this.readChecked(this.statePath(hash), STATE_VERSION, ({ header, f64 }) => {
      const { step, losses, keys } = header;
      if (
        !Number.isInteger(step) ||
        !Array.isArray(losses) ||
        losses.length !== step ||
        !Array.isArray(keys) ||
        !keys.every(isStringNumberPair)
      )
        throw new CacheEntryError('the header is not a ξ checkpoint');
      const xi = new Map<string, Float64Array>();
      for (const [key, length] of keys) xi.set(key, f64(length));
      return { step: step as number, losses: losses as number[], xi };
    });
  }

  clearState(hash: string): void {
    rmSync(this.statePath(hash), { force: true });
  }

  saveResult(hash: string, concept: Concept): void {
    atomicWrite(this.resultPath(hash), [encodeConcept(concept).bytes]);
  }

  /** The finished concept; a damaged one (concept files carry a SHA-256) is discarded and recomputed. */
  loadResult(hash: string): Concept | undefined {
    const path = this.resultPath(hash);
    const buf = readOrUndefined(path);
    if (!buf) return undefined;
    try {
      return decodeConcept(new Uint8Array(buf), 'not a valid concept file');
    } catch (e) {
      return this.discard(path, (e as Error).message);
    }
  }

  savePriors(hash: string, latents: Float32Array, shape: number[]): void {
    atomicWrite(this.priorsPath(hash), packChecked(PRIORS_VERSION, { shape }, [latents]));
  }

  loadPriors(hash: string): { data: Float32Array; shape: number[] } | undefined {
    return this.readChecked(this.priorsPath(hash), PRIORS_VERSION, ({ header, f32 }) => {
      const shape = header.shape;
      if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0))
        throw new CacheEntryError('the header is not a prior-latents entry');
      return { shape: shape as number[], data: f32(shape.reduce((a: number, b: number) => a * b, 1)) };
    });
  }
}
