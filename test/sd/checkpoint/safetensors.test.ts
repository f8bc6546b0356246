import { mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { f16BitsToF32, f32ToF16Array } from '../../../src/sd/checkpoint/dtype.js';
import { CheckpointError } from '../../../src/sd/checkpoint/errors.js';
import { SafetensorsFile, sniffFormat } from '../../../src/sd/checkpoint/safetensors-reader.js';
import {
  encodeSafetensorsHeader,
  writeSafetensors,
  writeSafetensorsTensors,
} from '../../../src/sd/checkpoint/safetensors-writer.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cones-safetensors-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A file with a hand-made header (string or object) and data bytes. */
async function rawFile(name: string, header: unknown, data: Uint8Array = new Uint8Array(0)): Promise<string> {
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(json.length));
  const path = join(dir, name);
  await writeFile(path, Buffer.concat([prefix, json, data]));
  return path;
}

async function openError(path: string): Promise<CheckpointError> {
  try {
    const f = await SafetensorsFile.open(path);
    await f.close();
  } catch (error) {
    expect(error).toBeInstanceOf(CheckpointError);
    return error as CheckpointError;
  }
  throw new Error(`expected ${path} to be refused`);
}

function sampleTensors() {
  const a = new Float32Array(6).map((_, i) => i * 0.5 - 1);
  const b = f32ToF16Array(new Float32Array([1, 2, 3]));
  const c = new Uint16Array([0x3f80, 0x4000]); // bf16 1, 2
  const d = new BigInt64Array([0n, 1n, 2n]);
  return new Map([
    ['alpha', { dtype: 'F32' as const, shape: [2, 3], data: a }],
    ['beta', { dtype: 'F16' as const, shape: [3], data: b }],
    ['gamma', { dtype: 'BF16' as const, shape: [1, 2], data: c }],
    ['ids', { dtype: 'I64' as const, shape: [1, 3], data: d }],
    ['scalar', { dtype: 'F32' as const, shape: [], data: new Float32Array([42]) }],
  ]);
}

describe('safetensors writer', () => {
  it('pads the header to a multiple of 8 so the data buffer is 8-byte aligned', async () => {
    const path = join(dir, 'aligned.safetensors');
    await writeSafetensorsTensors(path, sampleTensors(), { metadata: { format: 'pt', note: 'x' } });
    const bytes = await readFile(path);
    const n = Number(bytes.readBigUInt64LE(0));
    expect(n % 8).toBe(0);
    expect(bytes[8]).toBe(0x7b);
    const header = JSON.parse(bytes.subarray(8, 8 + n).toString());
    expect(header.__metadata__).toEqual({ format: 'pt', note: 'x' });
    // Reference order: larger dtypes first, then by name → every tensor aligned to its element size.
    const order = Object.keys(header)
      .filter((k) => k !== '__metadata__')
      .sort((x, y) => header[x].data_offsets[0] - header[y].data_offsets[0]);
    expect(order).toEqual(['ids', 'alpha', 'scalar', 'beta', 'gamma']);
    for (const k of order) {
      const size = { I64: 8, F32: 4, F16: 2, BF16: 2 }[header[k].dtype as string]!;
      expect((8 + n + header[k].data_offsets[0]) % size).toBe(0);
    }
  });

  it('round-trips tensors, dtypes, shapes and metadata through the reader', async () => {
    const path = join(dir, 'roundtrip.safetensors');
    const tensors = sampleTensors();
    await writeSafetensorsTensors(path, tensors, { metadata: { 'sd1.norm_groups': '8' } });
    const file = await SafetensorsFile.open(path);
    try {
      expect(file.metadata).toEqual({ 'sd1.norm_groups': '8' });
      expect(file.keys.sort()).toEqual([...tensors.keys()].sort());
      expect(file.info('alpha')).toMatchObject({ dtype: 'F32', shape: [2, 3] });
      expect([...(await file.readF32('alpha'))]).toEqual([...(tensors.get('alpha')!.data as Float32Array)]);
      expect([...(await file.readF32('beta'))]).toEqual([1, 2, 3]);
      expect([...(await file.readF16('beta'))]).toEqual([...(tensors.get('beta')!.data as Uint16Array)]);
      expect([...(await file.readF32('gamma'))]).toEqual([1, 2]);
      expect([...(await file.readF32('scalar'))]).toEqual([42]);
      expect([...new BigInt64Array((await file.readRaw('ids')).slice().buffer)]).toEqual([0n, 1n, 2n]);
      await expect(file.readF32('ids')).rejects.toThrow(/I64, not a float tensor/);
      await expect(file.readRaw('nope')).rejects.toThrow(/no tensor named "nope"/);
    } finally {
      await file.close();
    }
  });

  it('streams tensors from the source callback in file order and refuses a wrong byte length', async () => {
    const path = join(dir, 'streamed.safetensors');
    const asked: string[] = [];
    const specs = [
      { name: 'b', dtype: 'F16' as const, shape: [2] },
      { name: 'a', dtype: 'F32' as const, shape: [3] },
    ];
    await writeSafetensors(path, specs, (spec) => {
      asked.push(spec.name);
      return spec.dtype === 'F32' ? new Float32Array(3) : new Uint16Array(2);
    });
    expect(asked).toEqual(['a', 'b']);
    await expect(
      writeSafetensors(join(dir, 'bad.safetensors'), specs, () => new Float32Array(1)),
    ).rejects.toThrow(/needs 12 bytes, source gave 4/);
    // Nothing half-written is left behind.
    await expect(readFile(join(dir, 'bad.safetensors'))).rejects.toThrow(/ENOENT/);
  });
});

describe('lazy reads', () => {
  it('readRaw / readElements of each tensor equal the same bytes sliced out of the whole file', async () => {
    const path = join(dir, 'lazy.safetensors');
    const big = new Float32Array(100_003).map((_, i) => Math.sin(i));
    const half = f32ToF16Array(new Float32Array(777).map((_, i) => Math.cos(i)));
    await writeSafetensorsTensors(
      path,
      new Map([
        ['big', { dtype: 'F32' as const, shape: [100_003], data: big }],
        ['half', { dtype: 'F16' as const, shape: [7, 111], data: half }],
      ]),
    );
    const whole = await readFile(path);
    const file = await SafetensorsFile.open(path);
    try {
      for (const name of ['big', 'half']) {
        const info = file.info(name);
        const expected = whole.subarray(file.dataOffset + info.begin, file.dataOffset + info.end);
        expect(Buffer.from(await file.readRaw(name)).equals(expected)).toBe(true);
      }
      const slice = await file.readElements('big', 50_000, 10);
      expect([...new Float32Array(slice.buffer, slice.byteOffset, 10)]).toEqual([
        ...big.subarray(50_000, 50_010),
      ]);
      expect([...(await file.readF32('half'))]).toEqual([...f16BitsToF32(half)]);
      await expect(file.readElements('big', 100_000, 10)).rejects.toThrow(/out of range/);
    } finally {
      await file.close();
    }
  });
});

describe('header validation', () => {
  const ok = { t: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };

  it('accepts a hand-made minimal file (unpadded header, no metadata)', async () => {
    const file = await SafetensorsFile.open(await rawFile('ok.safetensors', ok, new Uint8Array(8)));
    expect([...(await file.readF32('t'))]).toEqual([0, 0]);
    await file.close();
  });

  it('refuses a file truncated inside the tensor data', async () => {
    const e = await openError(await rawFile('short-data.safetensors', ok, new Uint8Array(5)));
    expect(e.code).toBe('truncated');
    expect(e.message).toMatch(/truncated: the header describes 8 bytes of tensor data but only 5/);
  });

  it('refuses a file truncated inside the header', async () => {
    const path = await rawFile('short-header.safetensors', ok, new Uint8Array(8));
    await truncate(path, 20);
    const e = await openError(path);
    expect(e.code).toBe('truncated');
    expect(e.message).toMatch(/runs past the end/);
  });

  it('refuses a file shorter than the length prefix', async () => {
    const path = join(dir, 'tiny.safetensors');
    await writeFile(path, Buffer.from([1, 2, 3]));
    expect((await openError(path)).code).toBe('truncated');
  });

  it('refuses an absurd header length', async () => {
    const path = join(dir, 'huge-header.safetensors');
    const b = Buffer.alloc(16, 0x7b);
    b.writeBigUInt64LE(10n ** 12n);
    await writeFile(path, b);
    const e = await openError(path);
    expect(e.code).toBe('corrupt');
    expect(e.message).toMatch(/exceeds the 100000000-byte limit/);
  });

  it('refuses corrupted JSON', async () => {
    const e = await openError(
      await rawFile(
        'bad-json.safetensors',
        '{"t": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]',
        new Uint8Array(8),
      ),
    );
    expect(e.code).toBe('corrupt');
    expect(e.message).toMatch(/not valid JSON/);
  });

  it('refuses a header that is JSON but not an object', async () => {
    expect((await openError(await rawFile('array.safetensors', '[1]'))).message).toMatch(
      /does not start with|not a JSON object/,
    );
  });

  it('refuses overlapping offsets', async () => {
    const header = {
      a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
      b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
    };
    const e = await openError(await rawFile('overlap.safetensors', header, new Uint8Array(12)));
    expect(e.code).toBe('corrupt');
    expect(e.message).toMatch(/"b" overlaps the previous tensor/);
  });

  it('refuses gaps and trailing bytes', async () => {
    const gap = { a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } };
    expect((await openError(await rawFile('gap.safetensors', gap, new Uint8Array(8)))).message).toMatch(
      /gap in the data buffer/,
    );
    expect((await openError(await rawFile('trailing.safetensors', ok, new Uint8Array(12)))).message).toMatch(
      /4 bytes after the last tensor/,
    );
  });

  it('refuses an unknown dtype', async () => {
    const e = await openError(
      await rawFile(
        'dtype.safetensors',
        { t: { dtype: 'F17', shape: [2], data_offsets: [0, 8] } },
        new Uint8Array(8),
      ),
    );
    expect(e.code).toBe('corrupt');
    expect(e.message).toMatch(/"t" has unsupported dtype "F17"/);
  });

  it('refuses a shape × dtype that disagrees with the byte range', async () => {
    const e = await openError(
      await rawFile(
        'size.safetensors',
        { t: { dtype: 'F16', shape: [3], data_offsets: [0, 8] } },
        new Uint8Array(8),
      ),
    );
    expect(e.message).toMatch(/F16\[3\] needs 6 bytes but data_offsets span 8/);
  });

  it('refuses bad shapes, offsets and metadata', async () => {
    const cases: [unknown, RegExp][] = [
      [{ t: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }, /invalid shape/],
      [{ t: { dtype: 'F32', shape: [2], data_offsets: [8, 0] } }, /invalid data_offsets/],
      [{ t: { dtype: 'F32', shape: [2] } }, /invalid data_offsets/],
      [{ __metadata__: { a: 1 }, ...ok }, /__metadata__\["a"\] is not a string/],
    ];
    for (const [i, [header, message]] of cases.entries()) {
      expect(
        (await openError(await rawFile(`case${i}.safetensors`, header, new Uint8Array(8)))).message,
      ).toMatch(message);
    }
  });

  it('refuses pickles by content whatever the file is called', async () => {
    const path = join(dir, 'renamed-ckpt.safetensors');
    await writeFile(path, Buffer.concat([Buffer.from('PK\x03\x04'), Buffer.alloc(64)]));
    const e = await openError(path);
    expect(e.code).toBe('unsupported-format');
    expect(e.message).toMatch(/pickle.*convert it to \.safetensors/i);
  });

  it('encodes headers the reader accepts for zero-element tensors', async () => {
    const header = encodeSafetensorsHeader([{ name: 'empty', dtype: 'F32', shape: [0, 4] }]);
    const path = join(dir, 'empty.safetensors');
    await writeFile(path, header);
    const file = await SafetensorsFile.open(path);
    expect((await file.readF32('empty')).length).toBe(0);
    await file.close();
  });

  it('tells safetensors, torch zip, legacy pickle and GGUF apart by their first bytes', () => {
    const st = new Uint8Array([0x50, 0x4b, 0x03, 0x04, 0, 0, 0, 0, 0x7b]); // a length that looks like "PK\3\4"
    expect(sniffFormat(st)).toBe('safetensors');
    expect(sniffFormat(new Uint8Array([0x50, 0x4b, 0x03, 0x04, 0x14, 0, 0, 0, 0]))).toBe('torch-zip');
    expect(sniffFormat(new Uint8Array([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9]))).toBe(
      'pickle',
    );
    expect(sniffFormat(new TextEncoder().encode('GGUF\x03\0\0\0\0'))).toBe('gguf');
  });
});
