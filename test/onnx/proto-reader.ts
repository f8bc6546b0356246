/** A tiny protobuf reader for tests: decodes a message into field number → raw values. */
export type Field = { wire: number; value: bigint | Uint8Array };

export function readMessage(buf: Uint8Array): Map<number, Field[]> {
  const fields = new Map<number, Field[]>();
  let pos = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      const byte = buf[pos++];
      result |= BigInt(byte & 0x7f) << shift;
      if (!(byte & 0x80)) return result;
      shift += 7n;
    }
  };
  while (pos < buf.length) {
    const tag = Number(varint());
    const field = tag >> 3;
    const wire = tag & 7;
    let value: bigint | Uint8Array;
    if (wire === 0) value = varint();
    else if (wire === 2) {
      const len = Number(varint());
      value = buf.subarray(pos, pos + len);
      pos += len;
    } else if (wire === 5) {
      value = buf.subarray(pos, pos + 4);
      pos += 4;
    } else if (wire === 1) {
      value = buf.subarray(pos, pos + 8);
      pos += 8;
    } else throw new Error(`wire type ${wire}`);
    const list = fields.get(field) ?? [];
    list.push({ wire, value });
    fields.set(field, list);
  }
  return fields;
}

export const text = (f: Field) => Buffer.from(f.value as Uint8Array).toString('utf8');
export const sub = (f: Field) => readMessage(f.value as Uint8Array);
