/** MSB-first bit streams, LEB128 varints and Golomb codes for the concept index codecs. */

export class IndexStreamError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IndexStreamError';
  }
}

export class BitWriter {
  private buf: Uint8Array;
  private length = 0;
  private acc = 0;
  private accBits = 0;

  constructor(initialBytes = 64) {
    this.buf = new Uint8Array(Math.max(16, initialBytes));
  }

  private pushByte(byte: number): void {
    if (this.length === this.buf.length) {
      const grown = new Uint8Array(this.buf.length * 2);
      grown.set(this.buf);
      this.buf = grown;
    }
    this.buf[this.length++] = byte;
  }

  /** Whole bytes; only between bit-level writes that ended on a byte boundary (headers). */
  writeByte(byte: number): void {
    if (this.accBits !== 0) throw new Error('writeByte inside a bit field');
    this.pushByte(byte & 0xff);
  }

  writeVarint(value: number): void {
    if (!Number.isSafeInteger(value) || value < 0)
      throw new Error(`varint needs a non-negative integer, got ${value}`);
    while (value >= 0x80) {
      this.writeByte((value % 0x80) | 0x80);
      value = Math.floor(value / 0x80);
    }
    this.writeByte(value);
  }

  /** Writes the low `n` bits of `value`, most significant first. */
  writeBits(value: number, n: number): void {
    while (n > 24) {
      n -= 24;
      this.writeBits(Math.floor(value / 2 ** n) & 0xffffff, 24);
    }
    if (n === 0) return;
    this.acc = ((this.acc << n) | (value & ((1 << n) - 1))) >>> 0;
    this.accBits += n;
    while (this.accBits >= 8) {
      this.accBits -= 8;
      this.pushByte((this.acc >>> this.accBits) & 0xff);
    }
    this.acc &= (1 << this.accBits) - 1;
  }

  /** `q` zero bits then a one. */
  writeUnary(q: number): void {
    while (q >= 24) {
      this.writeBits(0, 24);
      q -= 24;
    }
    this.writeBits(1, q + 1);
  }

  /** Pads the last byte with zero bits and returns the bytes written. */
  finish(): Uint8Array {
    if (this.accBits > 0) this.writeBits(0, 8 - this.accBits);
    return this.buf.slice(0, this.length);
  }
}

export class BitReader {
  /** Position in bits from the start of `bytes`. */
  private pos: number;
  private readonly totalBits: number;

  constructor(
    private readonly bytes: Uint8Array,
    startByte = 0,
  ) {
    this.pos = startByte * 8;
    this.totalBits = bytes.length * 8;
  }

  get bitPosition(): number {
    return this.pos;
  }

  private truncated(): never {
    throw new IndexStreamError('index stream is truncated (ended inside a code)');
  }

  readByte(): number {
    if (this.pos % 8 !== 0) throw new Error('readByte inside a bit field');
    if (this.pos >= this.totalBits) this.truncated();
    const b = this.bytes[this.pos >>> 3];
    this.pos += 8;
    return b;
  }

  readVarint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.readByte();
      value += (b & 0x7f) * scale;
      if (b < 0x80) return value;
      scale *= 0x80;
    }
    throw new IndexStreamError('index stream has a malformed varint (longer than 8 bytes)');
  }

  /** 32 bits starting at the current byte, zero beyond the end. */
  private word(byteIndex: number): number {
    const b = this.bytes;
    const n = b.length;
    return (
      (((byteIndex < n ? b[byteIndex] : 0) << 24) |
        ((byteIndex + 1 < n ? b[byteIndex + 1] : 0) << 16) |
        ((byteIndex + 2 < n ? b[byteIndex + 2] : 0) << 8) |
        (byteIndex + 3 < n ? b[byteIndex + 3] : 0)) >>>
      0
    );
  }

  /** Reads `n` ≤ 24 bits as an unsigned number. */
  readBits(n: number): number {
    if (n === 0) return 0;
    if (n > 24) {
      const high = this.readBits(n - 24);
      return high * 0x1000000 + this.readBits(24);
    }
    if (this.pos + n > this.totalBits) this.truncated();
    const offset = this.pos & 7;
    const w = this.word(this.pos >>> 3);
    this.pos += n;
    return ((w << offset) >>> 0) >>> (32 - n);
  }

  /** Counts zero bits up to and including the terminating one; returns the zero count. */
  readUnary(): number {
    let q = 0;
    for (;;) {
      if (this.pos >= this.totalBits) this.truncated();
      const offset = this.pos & 7;
      const valid = 32 - offset;
      const w = (this.word(this.pos >>> 3) << offset) >>> 0;
      const zeros = Math.clz32(w);
      if (zeros < valid) {
        if (this.pos + zeros + 1 > this.totalBits) this.truncated();
        this.pos += zeros + 1;
        return q + zeros;
      }
      q += valid;
      this.pos += valid;
    }
  }

  /** Throws unless only zero padding (< 8 bits) remains. */
  expectEnd(): void {
    const remaining = this.totalBits - this.pos;
    if (remaining >= 8) {
      throw new IndexStreamError(`index stream has ${Math.floor(remaining / 8)} unexpected trailing byte(s)`);
    }
    if (remaining > 0 && this.readBits(remaining) !== 0) {
      throw new IndexStreamError('index stream has non-zero padding bits');
    }
  }
}

/** Golomb code with divisor M ≥ 1: unary quotient, truncated-binary remainder (Rice when M is 2^k). */
export class GolombCode {
  readonly bits: number;
  readonly cutoff: number;

  constructor(readonly m: number) {
    if (!Number.isInteger(m) || m < 1 || m > 2 ** 24)
      throw new IndexStreamError(`invalid Golomb parameter ${m}`);
    this.bits = m === 1 ? 0 : Math.ceil(Math.log2(m));
    this.cutoff = 2 ** this.bits - m;
  }

  /** Length in bits of the code for `value`. */
  cost(value: number): number {
    const q = Math.floor(value / this.m);
    const r = value - q * this.m;
    return q + 1 + (r < this.cutoff ? this.bits - 1 : this.bits);
  }

  write(w: BitWriter, value: number): void {
    const q = Math.floor(value / this.m);
    const r = value - q * this.m;
    w.writeUnary(q);
    if (this.bits === 0) return;
    if (r < this.cutoff) w.writeBits(r, this.bits - 1);
    else w.writeBits(r + this.cutoff, this.bits);
  }

  read(r: BitReader): number {
    const q = r.readUnary();
    if (this.bits === 0) return q;
    let x = r.readBits(this.bits - 1);
    if (x >= this.cutoff) x = x * 2 + r.readBits(1) - this.cutoff;
    return q * this.m + x;
  }
}

export function varintLength(value: number): number {
  let n = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 0x80);
    n++;
  }
  return n;
}
