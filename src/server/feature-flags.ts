import type { ServerLimits } from './options.js';

/**
 * Server feature flags (`GET /features` and the WebSocket `feature_flags` reply). Only what this server
 * implements: event-4 previews for clients that ask, and the upload limit.
 */
export function serverFeatureFlags(limits: ServerLimits): Record<string, unknown> {
  return {
    supports_preview_metadata: true,
    max_upload_size: limits.maxUploadBytes,
  };
}
