import { readFileSync, writeFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { nativeProtocolSchema, requestTypes } from '../../../src/server/native/schema.js';

const file = new URL('../../../schemas/protocol/native.schema.json', import.meta.url);

describe('native protocol schema file', () => {
  it('schemas/protocol/native.schema.json is exactly the TypeScript source (UPDATE_SCHEMAS=1 rewrites it)', () => {
    const expected = `${JSON.stringify(nativeProtocolSchema, null, 2)}\n`;
    if (process.env.UPDATE_SCHEMAS) writeFileSync(file, expected);
    expect(readFileSync(file, 'utf8')).toBe(expected);
  });

  it('lists every request type in the envelope enum and has a payload schema for each', () => {
    expect([...nativeProtocolSchema.$defs.envelope.properties.type.enum].sort()).toEqual(
      [...requestTypes].sort(),
    );
    for (const type of requestTypes) expect(nativeProtocolSchema.$defs).toHaveProperty(`request_${type}`);
  });

  it('compiles under ajv strict mode for readers in other languages', () => {
    const ajv = new Ajv({ strict: true, strictTypes: false });
    ajv.addKeyword({ keyword: 'bytes', schemaType: 'boolean' });
    expect(() => ajv.compile(JSON.parse(readFileSync(file, 'utf8')))).not.toThrow();
  });
});
