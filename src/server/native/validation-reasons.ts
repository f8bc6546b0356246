import type { ErrorObject } from 'ajv';
import { escapePointer } from './codec.js';

/** A frame that failed validation: where (JSON pointer into the frame) and why. */
export interface ValidationFailure {
  pointer: string;
  reason: string;
}

type Schema = Record<string, unknown>;

/**
 * The reason a frame failed, from ajv's errors (compiled with `verbose`, so each carries its schema
 * and value). With `allErrors: false` the failing keyword's error comes last, after the errors of
 * any anyOf/oneOf branches it tried; a branch's error ("must be string" for an id of -1) would
 * mislead, so an anyOf is described by everything it allows.
 */
export function describeFailure(errors: readonly ErrorObject[]): ValidationFailure {
  const error = errors[errors.length - 1];
  const params = error.params as Record<string, unknown>;
  let pointer = error.instancePath;
  let reason: string;
  switch (error.keyword) {
    case 'additionalProperties':
      pointer += `/${escapePointer(String(params.additionalProperty))}`;
      reason = 'is not allowed here';
      break;
    case 'required':
      pointer += `/${escapePointer(String(params.missingProperty))}`;
      reason = 'is required';
      break;
    case 'anyOf':
    case 'oneOf':
      reason =
        error.keyword === 'oneOf' && params.passingSchemas
          ? 'matches more than one of the allowed forms'
          : `must be ${(error.schema as Schema[]).map(allowed).join(' or ')} (got ${kindOf(error.data)})`;
      break;
    case 'type':
      reason = `must be ${allowed({ type: params.type })} (got ${kindOf(error.data)})`;
      break;
    case 'enum':
      reason = `must be one of ${JSON.stringify(params.allowedValues)}`;
      break;
    case 'const':
      reason = `must be ${JSON.stringify(params.allowedValue)}`;
      break;
    case 'minLength':
      reason = params.limit === 1 ? 'must not be empty' : `must have at least ${params.limit} characters`;
      break;
    case 'maxLength':
      reason = `must have at most ${params.limit} characters (has ${String(error.data).length})`;
      break;
    case 'minProperties':
      reason = params.limit === 1 ? 'must not be empty' : `must have at least ${params.limit} entries`;
      break;
    case 'maxItems':
      reason = `must have at most ${params.limit} items (has ${(error.data as unknown[]).length})`;
      break;
    case 'bytes':
      reason = bytesReason(error.data);
      break;
    case 'minimum':
    case 'maximum':
      reason = `${error.message} (got ${kindOf(error.data)})`;
      break;
    default:
      reason = error.message ?? 'is invalid';
  }
  return { pointer, reason };
}

/** What a (branch) schema allows, in words: "a string of 1 to 128 characters", "an integer from 0 to 9". */
function allowed(schema: Schema): string {
  if (schema.bytes) return 'bytes';
  if ('const' in schema) return JSON.stringify(schema.const);
  if (Array.isArray(schema.enum)) return `one of ${JSON.stringify(schema.enum)}`;
  const type = Array.isArray(schema.type) ? schema.type.join(' or ') : schema.type;
  switch (type) {
    case 'string': {
      const { minLength: min, maxLength: max } = schema as { minLength?: number; maxLength?: number };
      if (min !== undefined && max !== undefined) return `a string of ${min} to ${max} characters`;
      if (max !== undefined) return `a string of at most ${max} characters`;
      if (min === 1) return 'a non-empty string';
      return min !== undefined ? `a string of at least ${min} characters` : 'a string';
    }
    case 'integer':
    case 'number': {
      const { minimum: min, maximum: max } = schema as { minimum?: number; maximum?: number };
      const noun = type === 'integer' ? 'an integer' : 'a number';
      if (min !== undefined && max !== undefined) return `${noun} from ${min} to ${max}`;
      if (min === 0) return `a non-negative ${type}`;
      if (min !== undefined) return `${noun} ≥ ${min}`;
      return max !== undefined ? `${noun} ≤ ${max}` : noun;
    }
    case 'object':
      return 'an object';
    case 'array':
      return 'an array';
    case 'boolean':
      return 'a boolean';
    case 'null':
      return 'null';
    default:
      return typeof type === 'string' ? type : 'a valid value';
  }
}

/** The kind of a value as a reason quotes it: "-1", "a string of 0 characters", "an array". */
function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string')
    return `a string of ${value.length} character${value.length === 1 ? '' : 's'}`;
  if (typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Uint8Array) return 'bytes';
  if (typeof value === 'object') return 'an object';
  return typeof value;
}

function bytesReason(value: unknown): string {
  const record = value as Record<string, unknown> | null;
  if (typeof record === 'object' && record !== null && typeof record.$bytes === 'string')
    return 'must be bytes: its "$bytes" text is not base64';
  return `must be bytes (msgpack bin; in JSON {"$bytes": "<base64>"}), not ${kindOf(value)}`;
}
