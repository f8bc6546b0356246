/** ComfyUI binary event types. */
export const PREVIEW_IMAGE = 1;
export const PREVIEW_IMAGE_WITH_METADATA = 4;

/** `[u32 BE event type][payload]`: ComfyUI's binary frame. */
export function binaryFrame(eventType: number, payload: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(4 + payload.length);
  frame.writeUInt32BE(eventType, 0);
  frame.set(payload, 4);
  return frame;
}

export interface DecodedPreview {
  format: 'jpeg' | 'png';
  image: Uint8Array;
  metadata?: Record<string, unknown>;
}

/**
 * Reads a preview payload: event 1 is `[u32 format (1=JPEG, 2=PNG)][image]`, event 4 is
 * `[u32 metadata length][metadata JSON][image]`. Returns null for anything else.
 */
export function decodePreview(eventType: number, payload: Uint8Array): DecodedPreview | null {
  const view = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  if (view.length < 4) return null;
  if (eventType === PREVIEW_IMAGE) {
    const code = view.readUInt32BE(0);
    return { format: code === 2 ? 'png' : 'jpeg', image: view.subarray(4) };
  }
  if (eventType === PREVIEW_IMAGE_WITH_METADATA) {
    const length = view.readUInt32BE(0);
    if (4 + length > view.length) return null;
    let metadata: Record<string, unknown>;
    try {
      metadata = JSON.parse(view.toString('utf8', 4, 4 + length));
    } catch {
      return null;
    }
    const format = metadata.image_type === 'image/png' ? 'png' : 'jpeg';
    return { format, image: view.subarray(4 + length), metadata };
  }
  return null;
}

/** Event 4 → event 1 for clients that did not negotiate `supports_preview_metadata`. */
export function withoutMetadata(preview: DecodedPreview): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt32BE(preview.format === 'png' ? 2 : 1, 0);
  return binaryFrame(PREVIEW_IMAGE, Buffer.concat([head, preview.image]));
}

/** Event 1 + its origin → event 4 (`[u32 metadata length][metadata JSON][image]`) for clients that asked. */
export function withMetadata(preview: DecodedPreview, meta: Record<string, unknown>): Buffer {
  const metadata = Buffer.from(
    JSON.stringify({ ...meta, image_type: preview.format === 'png' ? 'image/png' : 'image/jpeg' }),
  );
  const head = Buffer.alloc(4);
  head.writeUInt32BE(metadata.length, 0);
  return binaryFrame(PREVIEW_IMAGE_WITH_METADATA, Buffer.concat([head, metadata, preview.image]));
}
