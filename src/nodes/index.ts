import { conesNodes } from './cones.js';
import { conesFileNodes } from './cones-files.js';
import { imageNodes } from './image.js';
import { NodeRegistry } from './registry.js';
import { sdNodes } from './sd.js';
import type { NodeDefinition } from './types.js';

/** Every node family the service ships; each family adds its list here. */
export const nodeFamilies: Record<string, NodeDefinition[]> = {
  image: imageNodes,
  conesNeurons: conesNodes,
  sd: sdNodes,
  cones: conesFileNodes,
};

export function allNodeDefinitions(): NodeDefinition[] {
  return Object.values(nodeFamilies).flat();
}

/** A registry holding every shipped node (plus `extra` definitions, e.g. test nodes). */
export function createNodeRegistry(extra: NodeDefinition[] = []): NodeRegistry {
  return new NodeRegistry([...allNodeDefinitions(), ...extra]);
}
