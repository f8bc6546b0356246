/** The transport: HTTP + WebSocket service speaking ComfyUI's protocol and the native protocol. */

export {
  type FrontEndChoice,
  type FrontEndFound,
  type FrontEndMissing,
  locateFrontEnd,
} from './front-end-locate.js';
export type { ListenAddress } from './listen-address.js';
export type { Envelope, ErrorData, NativeTensor, RequestData, RequestType } from './native/schema.js';
export { nativeProtocolSchema } from './native/schema.js';
export type { RunningServer, ServerLimits, StartServerOptions } from './options.js';
export { MIN_AUTH_TOKEN_LENGTH } from './security.js';
export { type StartServerFullOptions, startServer } from './start-server.js';
