/**
 * A minimal protobuf encoder (write-only): varints, fixed32/64, length-delimited fields and nested
 * messages. Enough for ONNX ModelProto; see serialize.ts for the field numbers.
 */
export class ProtoWriter {
  private buf = Buffer.allocUnsafe(256);
  private len = 0;

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  private varint(value: number | bigint): void {
    let v = BigInt.asUintN(64, BigInt(value));
    if (v < 0x80n) {
      this.reserve(1);
      this.buf[this.len++] = Number(v);
      return;
    }
    this.reserve(10);
    while (v >= 0x80n) {
      this.buf[this.len++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buf[this.len++] = Number(v);
  }

  private tag(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }

  /** int32 / int64 / enum / bool (negative numbers as 10-byte two's complement, as protobuf does). */
  int(field: number, value: number | bigint): this {
    this.tag(field, 0);
    this.varint(value);
    return this;
  }

  float(field: number, value: number): this {
    this.tag(field, 5);
    this.reserve(4);
    this.buf.writeFloatLE(value, this.len);
    this.len += 4;
    return this;
  }

  bytes(field: number, data: Uint8Array): this {
    this.tag(field, 2);
    this.varint(data.length);
    this.reserve(data.length);
    this.buf.set(data, this.len);
    this.len += data.length;
    return this;
  }

  string(field: number, s: string): this {
    return this.bytes(field, Buffer.from(s, 'utf8'));
  }

  message(field: number, write: (w: ProtoWriter) => void): this {
    const child = new ProtoWriter();
    write(child);
    return this.bytes(field, child.finish());
  }

  packedInts(field: number, values: readonly (number | bigint)[]): this {
    const child = new ProtoWriter();
    for (const v of values) child.varint(v);
    return this.bytes(field, child.finish());
  }

  packedFloats(field: number, values: readonly number[]): this {
    const data = Buffer.allocUnsafe(values.length * 4);
    values.forEach((v, i) => {
      data.writeFloatLE(v, i * 4);
    });
    return this.bytes(field, data);
  }

  finish(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }
}
