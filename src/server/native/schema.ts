/**
 * The native protocol's message shapes: the single source of truth. `schemas/protocol/native.schema.json`
 * is written from this object (test/server/native-schema.test.ts fails on drift) and the TS types below
 * are derived from it with json-schema-to-ts, so code, docs and validation cannot disagree.
 *
 * `bytes: true` is this protocol's one extension keyword: a binary value (msgpack `bin`; in JSON frames
 * an object `{"$bytes": "<base64>"}`).
 */
import type { ExtendedJSONSchema, FromExtendedSchema } from 'json-schema-to-ts';

type BytesExtension = { bytes: boolean };

const id = {
  description: 'Chosen by the client; echoed in the reply.',
  anyOf: [
    { type: 'string', minLength: 1, maxLength: 128 },
    { type: 'integer', minimum: 0, maximum: 9007199254740991 },
  ],
} as const;

const bytes = { bytes: true, description: 'Raw bytes (msgpack bin; JSON: {"$bytes": base64}).' } as const;

const dtype = { type: 'string', enum: ['float32', 'uint8'] } as const;

const tensor = {
  type: 'object',
  description: 'Row-major tensor. Images are [H, W, C] (float32 in 0..1 or uint8).',
  properties: {
    dtype,
    shape: { type: 'array', items: { type: 'integer', minimum: 0 }, maxItems: 8 },
    data: bytes,
  },
  required: ['dtype', 'shape', 'data'],
  additionalProperties: false,
} as const;

const folderType = { type: 'string', enum: ['input', 'output', 'temp'] } as const;
const fileName = { type: 'string', minLength: 1, maxLength: 255 } as const;
const subfolder = { type: 'string', maxLength: 1024 } as const;
const promptId = { type: 'string', minLength: 1, maxLength: 128 } as const;
const clientId = { type: 'string', minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9_.:-]+$' } as const;

const apiNode = {
  type: 'object',
  properties: {
    class_type: { type: 'string', minLength: 1 },
    inputs: { type: 'object' },
    _meta: { type: 'object' },
  },
  required: ['class_type', 'inputs'],
} as const;

/** Request payloads by message type (`data` of a client envelope). */
const requestData = {
  hello: {
    type: 'object',
    description: 'Optional first message: picks the encoding of replies and the client id used for prompts.',
    properties: {
      protocol: { type: 'string', const: 'cones.v1' },
      encoding: { type: 'string', enum: ['json', 'msgpack'] },
      client_id: clientId,
    },
    additionalProperties: false,
  },
  object_info: {
    type: 'object',
    properties: { class: { type: 'string', minLength: 1, maxLength: 256 } },
    additionalProperties: false,
  },
  queue_prompt: {
    type: 'object',
    properties: {
      prompt: { type: 'object', additionalProperties: apiNode, minProperties: 1 },
      extra_data: { type: 'object' },
      front: { type: 'boolean' },
      number: { type: 'number' },
      prompt_id: promptId,
      partial_execution_targets: { type: 'array', items: { type: 'string' } },
    },
    required: ['prompt'],
    additionalProperties: false,
  },
  interrupt: {
    type: 'object',
    properties: { prompt_id: promptId },
    additionalProperties: false,
  },
  queue: { type: 'object', additionalProperties: false },
  history: {
    type: 'object',
    properties: {
      prompt_id: promptId,
      max_items: { type: 'integer', minimum: 1 },
      offset: { type: 'integer', minimum: 0 },
    },
    additionalProperties: false,
  },
  upload: {
    type: 'object',
    description: 'Stores a file as /upload/image does (same naming and de-duplication rules).',
    properties: {
      filename: fileName,
      bytes,
      type: folderType,
      subfolder,
      overwrite: { type: 'boolean' },
    },
    required: ['filename', 'bytes'],
    additionalProperties: false,
  },
  get_output: {
    type: 'object',
    description:
      "Reads a stored image as /view does; `as: 'tensor'` decodes it to a float32 [H, W, C] tensor.",
    properties: {
      filename: fileName,
      subfolder,
      type: folderType,
      as: { type: 'string', enum: ['file', 'tensor'] },
    },
    required: ['filename'],
    additionalProperties: false,
  },
  subscribe: {
    type: 'object',
    description:
      'Chooses which events reach this connection: by default ComfyUI routing (own prompts + broadcasts); ' +
      "`all_prompts` adds every prompt's events; `events` keeps only the listed types.",
    properties: {
      all_prompts: { type: 'boolean' },
      events: { type: 'array', items: { type: 'string', minLength: 1, maxLength: 64 }, maxItems: 64 },
    },
    additionalProperties: false,
  },
} as const;

export const requestTypes = Object.keys(requestData) as Array<keyof typeof requestData>;

const envelope = {
  type: 'object',
  description: 'Every client frame: {type, id?, data?}.',
  properties: {
    type: {
      type: 'string',
      enum: [
        'hello',
        'object_info',
        'queue_prompt',
        'interrupt',
        'queue',
        'history',
        'upload',
        'get_output',
        'subscribe',
      ],
    },
    id,
    data: { type: 'object' },
  },
  required: ['type'],
  additionalProperties: false,
} as const;

const errorData = {
  type: 'object',
  properties: {
    code: {
      type: 'string',
      enum: ['invalid_frame', 'invalid_message', 'request_failed', 'not_found', 'forbidden'],
    },
    message: { type: 'string' },
    pointer: {
      type: 'string',
      description: 'JSON pointer (RFC 6901) into the offending frame; "" = whole frame.',
    },
    reason: { type: 'string' },
    details: { type: 'object', description: "queue_prompt failures: ComfyUI's {error, node_errors} body." },
  },
  required: ['code', 'message', 'pointer', 'reason'],
  additionalProperties: false,
} as const;

/** Server → client frames. */
const serverMessage = {
  type: 'object',
  description:
    'Replies carry the request `type` and `id`; `error` replies carry `id` when the frame had a readable one; ' +
    'events are ComfyUI WebSocket events ({type, data}) plus `preview` for binary previews and the ' +
    "nodes' own events (`cones.loss`, see `event_cones_loss`).",
  properties: {
    type: { type: 'string' },
    id,
    data: {},
  },
  required: ['type', 'data'],
} as const;

const responseData = {
  hello: {
    type: 'object',
    properties: {
      protocol: { type: 'string', const: 'cones.v1' },
      encoding: { type: 'string', enum: ['json', 'msgpack'] },
      client_id: { type: 'string' },
      server: { type: 'string' },
      feature_flags: { type: 'object' },
    },
    required: ['protocol', 'encoding', 'client_id', 'server'],
  },
  upload: {
    type: 'object',
    properties: { name: { type: 'string' }, subfolder: { type: 'string' }, type: folderType },
    required: ['name', 'subfolder', 'type'],
  },
  get_output: {
    type: 'object',
    properties: {
      filename: { type: 'string' },
      subfolder: { type: 'string' },
      type: folderType,
      mime: { type: 'string' },
      bytes,
      tensor,
    },
    required: ['filename', 'subfolder', 'type', 'mime'],
  },
  preview: {
    type: 'object',
    properties: {
      event_type: { type: 'integer' },
      format: { type: 'string', enum: ['jpeg', 'png'] },
      image: bytes,
      metadata: { type: 'object' },
    },
    required: ['event_type', 'format', 'image'],
  },
} as const;

/**
 * Events of this service's own nodes (`data` of `{type, data}`; `$defs` key `event_` + type with `.` as
 * `_`). They reach /ws clients in the same shape; stock ComfyUI front ends ignore unknown types.
 */
const eventData = {
  cones_loss: {
    type: 'object',
    description:
      "`cones.loss`: one training step of Extract Concept, sent to the prompt's client after each step " +
      '(in step order, between its `progress` events).',
    properties: {
      prompt_id: { type: 'string' },
      node: { type: 'string', description: 'Node id of the Extract Concept node.' },
      display_node: { type: 'string' },
      step: { type: 'integer', minimum: 1, description: 'Steps done, 1..steps.' },
      steps: { type: 'integer', minimum: 1, description: 'Training steps of this extraction.' },
      loss: {
        type: ['number', 'null'],
        description: "This step's loss (null when it was not a finite number).",
      },
      step_s: {
        type: 'number',
        minimum: 0,
        description:
          'Mean seconds per training step on this machine so far (since the first step of this run); ' +
          'from the second step on.',
      },
      eta_s: {
        type: 'number',
        minimum: 0,
        description: 'Estimated seconds left: step_s × (steps − step), rounded to 0.1 s; sent with step_s.',
      },
    },
    required: ['prompt_id', 'node', 'display_node', 'step', 'steps', 'loss'],
  },
} as const;

export const nativeProtocolSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://cones-nodes.dev/schemas/protocol/native.schema.json',
  title: 'cones-nodes native protocol v1',
  description:
    'WebSocket at /native (also /api/native). Encoding by subprotocol cones.v1.json / cones.v1.msgpack or a ' +
    'first hello {encoding}; text frames are JSON, binary frames msgpack, in both directions.',
  $defs: {
    id,
    bytes,
    tensor,
    envelope,
    error: errorData,
    server_message: serverMessage,
    ...prefixed('request_', requestData),
    ...prefixed('response_', responseData),
    ...prefixed('event_', eventData),
  },
} as const;

/** `$defs` key of the payload schema for a request type, e.g. `request_queue_prompt`. */
export function requestDefName(type: string): string {
  return `request_${type}`;
}

function prefixed<P extends string, T extends Record<string, ExtendedJSONSchema<BytesExtension>>>(
  prefix: P,
  schemas: T,
): { [K in keyof T & string as `${P}${K}`]: T[K] } {
  return Object.fromEntries(Object.entries(schemas).map(([k, v]) => [prefix + k, v])) as never;
}

type Deserialize = { deserialize: [{ pattern: { bytes: true }; output: Uint8Array }] };
type From<S extends ExtendedJSONSchema<BytesExtension>> = FromExtendedSchema<BytesExtension, S, Deserialize>;

export type RequestType = keyof typeof requestData;
export type RequestData = { [K in RequestType]: From<(typeof requestData)[K]> };
export type Envelope = From<typeof envelope>;
export type ErrorData = From<typeof errorData>;
export type NativeTensor = From<typeof tensor>;
export type HelloResponse = From<typeof responseData.hello>;
export type UploadResponse = From<typeof responseData.upload>;
export type GetOutputResponse = From<typeof responseData.get_output>;
export type PreviewEvent = From<typeof responseData.preview>;
export type ConesLossEvent = From<typeof eventData.cones_loss>;
