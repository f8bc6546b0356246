/** Gradient rules, keyed by ONNX op type. Each ops/* module registers the rules of the ops it emits. */
import type { GraphBuilder } from '../core.js';
import type { OpNode, Value } from '../ir.js';

export interface GradContext {
  readonly b: GraphBuilder;
  readonly node: OpNode;
  /** Forward input i (re-emitted when the node sits in a recompute segment). */
  x(i: number): Value;
  /** Forward output i (re-emitted when the node sits in a recompute segment). */
  y(i: number): Value;
  /** Whether input i lies on a path from a `wrt` value (only then is its gradient wanted). */
  needs(i: number): boolean;
  attrI(name: string, fallback?: number): number;
  attrF(name: string, fallback?: number): number;
  attrInts(name: string, fallback?: readonly number[]): readonly number[];
  attrS(name: string, fallback?: string): string;
}

/**
 * Given the gradients of the node's outputs (undefined where no gradient reaches an output),
 * returns the gradient for each input (undefined where not needed or not differentiable).
 */
export type GradRule = (ctx: GradContext, gy: readonly (Value | undefined)[]) => (Value | undefined)[];

export const gradRules = new Map<string, GradRule>();

export function defineGrad(op: string, rule: GradRule): void {
  gradRules.set(op, rule);
}
