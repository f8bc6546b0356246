/** Library entry: the pieces other programs embed (service, engine, node registry). */
export * from './nodes/types.js';
export type * from './engine/service-types.js';
