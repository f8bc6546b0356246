/**
 * The extraction cache's entries on their own: checksummed ξ checkpoints and prior latents, old
 * formats discarded cleanly, and writes that leave the previous file when they fail or the process dies.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { A2State } from '../../../src/cones/extract/a2.js';
import { atomicWrite } from '../../../src/cones/extract/atomic-write.js';
import { ExtractionStore } from '../../../src/cones/extract/store.js';

let dir: string;
let store: ExtractionStore;
let warnings: string[];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cones-store-'));
  store = new ExtractionStore(dir);
  warnings = [];
  vi.spyOn(console, 'warn').mockImplementation((...args: unknown[]) => {
    warnings.push(args.join(' '));
  });
});
afterEach(() => vi.restoreAllMocks());

function sampleState(): A2State {
  return {
    step: 2,
    losses: [0.5, 0.25],
    xi: new Map([
      ['a', Float64Array.from([1, 1 - 1e-9, 0.75])],
      ['b', Float64Array.from([0.5, 2])],
    ]),
  };
}

/** A state file as format version 2 wrote it: no checksum. */
function versionTwoState(state: A2State): Buffer {
  const keys = [...state.xi.keys()];
  let json = Buffer.from(
    JSON.stringify({
      version: 2,
      step: state.step,
      losses: state.losses,
      keys: keys.map((k) => [k, state.xi.get(k)!.length]),
    }),
  );
  json = Buffer.concat([json, Buffer.alloc((4 - (json.length % 4)) % 4, 0x20)]);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(json.length);
  return Buffer.concat([len, json, ...keys.map((k) => Buffer.from(state.xi.get(k)!.buffer))]);
}

describe('ξ checkpoints', () => {
  it('round-trip exactly', () => {
    store.saveState('h', sampleState());
    expect(store.loadState('h')).toEqual(sampleState());
    expect(warnings).toEqual([]);
  });

  it('are discarded when any single byte changes, with a warning naming the file', () => {
    store.saveState('h', sampleState());
    const good = readFileSync(store.statePath('h'));
    for (let i = 0; i < good.length; i++) {
      const bad = Buffer.from(good);
      bad[i] ^= 0x01;
      writeFileSync(store.statePath('h'), bad);
      expect(store.loadState('h'), `byte ${i}`).toBeUndefined();
    }
    expect(warnings).toHaveLength(good.length);
    expect(warnings.every((w) => w.includes('state/h.xi'))).toBe(true);
    expect(existsSync(store.statePath('h'))).toBe(false);
  });

  it('discards an older format version cleanly, saying which', () => {
    mkdirSync(join(dir, 'state'));
    writeFileSync(store.statePath('h'), versionTwoState(sampleState()));
    expect(store.loadState('h')).toBeUndefined();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/state\/h\.xi: written in format version 2, this build reads version 3/);
    expect(existsSync(store.statePath('h'))).toBe(false);
  });

  it('gives nothing, silently, when there is no checkpoint', () => {
    expect(store.loadState('none')).toBeUndefined();
    expect(warnings).toEqual([]);
  });
});

describe('prior latents', () => {
  it('round-trip, and a flipped or truncated file is discarded with a warning', () => {
    const data = Float32Array.from({ length: 2 * 4 * 2 * 2 }, (_, i) => i / 7);
    store.savePriors('p', data, [2, 4, 2, 2]);
    expect(store.loadPriors('p')).toEqual({ data, shape: [2, 4, 2, 2] });
    const good = readFileSync(store.priorsPath('p'));
    const flipped = Buffer.from(good);
    flipped[good.length >> 1] ^= 0x80;
    writeFileSync(store.priorsPath('p'), flipped);
    expect(store.loadPriors('p')).toBeUndefined();
    writeFileSync(store.priorsPath('p'), good.subarray(0, good.length - 10));
    expect(store.loadPriors('p')).toBeUndefined();
    expect(warnings).toHaveLength(2);
    expect(warnings.every((w) => w.includes('priors/p.f32'))).toBe(true);
  });

  it('discards the unversioned format 1 cleanly', () => {
    mkdirSync(join(dir, 'priors'));
    const json = Buffer.from('{"shape":[1,1,1,1]}');
    const len = Buffer.alloc(4);
    len.writeUInt32LE(json.length);
    writeFileSync(store.priorsPath('p'), Buffer.concat([len, json, Buffer.alloc(4)]));
    expect(store.loadPriors('p')).toBeUndefined();
    expect(warnings[0]).toMatch(/priors\/p\.f32: written in format version 1/);
  });
});

describe('atomic writes', () => {
  it('leave the previous file intact and no temporary file when the write fails midway', () => {
    const path = join(dir, 'entry');
    atomicWrite(path, [Buffer.from('previous')]);
    function* failing() {
      yield Buffer.from('new content, part one');
      throw new Error('disk full');
    }
    expect(() => atomicWrite(path, failing())).toThrow('disk full');
    expect(readFileSync(path, 'utf8')).toBe('previous');
    expect(readdirSync(dir)).toEqual(['entry']);
  });

  it('leave the previous file intact when the process dies during the write', () => {
    const path = join(dir, 'entry');
    atomicWrite(path, [Buffer.from('previous')]);
    const module = resolve('src/cones/extract/atomic-write.ts');
    const script = join(dir, 'crash.ts');
    writeFileSync(
      script,
      `import { atomicWrite } from ${JSON.stringify(module)};
function* dying() {
  yield Buffer.from('new content, part one');
  process.kill(process.pid, 'SIGKILL');
  yield Buffer.from('never written');
}
atomicWrite(${JSON.stringify(path)}, dying());
`,
    );
    const child = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8' });
    expect(child.signal, child.stderr).toBe('SIGKILL');
    expect(readFileSync(path, 'utf8')).toBe('previous');
    // The dead process's temporary file holds the partial write; it is never read under the real name.
    const leftover = readdirSync(dir).filter((f) => f.endsWith('.tmp'));
    expect(leftover).toHaveLength(1);
    expect(readFileSync(join(dir, leftover[0]), 'utf8')).toBe('new content, part one');
  });
});
