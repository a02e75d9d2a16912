import type { Node } from './ir.js';
import type { ConstTensor } from './tensor.js';

/**
 * What graph passes know of an op's history, without knowing its kernels: the opset versions at which its
 * meaning or its form changed (the interpreter's op declarations carry these, see interpreter/op-declaration.ts).
 * Defined here so that graph passes (the opset upgrade) depend on the facts, not on the interpreter.
 */
export interface OpVersion {
  /** The domain's opset version from which this form of the op applies. */
  readonly since: number;
  /**
   * Rewrites a node written for the previous form into this one (the same meaning): an attribute that became
   * an input, for example. Absent when no rewrite exists: a pass refuses to bring such a node across `since`.
   */
  readonly upgrade?: NodeUpgrade;
}

export type NodeUpgrade = (node: Node, tools: UpgradeTools) => Node;

/** What a node rewrite may do besides returning the new node. */
export interface UpgradeTools {
  /** Adds a constant initializer named after the node and `what`; returns its name. */
  constant(what: string, tensor: Omit<ConstTensor, 'name'>): string;
  /** Refuses this node: the pass throws an UnsupportedModelError naming it and saying why. */
  refuse(why: string): never;
}

/** The versions of each op a registry knows. */
export interface OpVersions {
  /** The op's forms in ascending `since`; undefined for an op this registry does not know. */
  versions(domain: string, opType: string): readonly OpVersion[] | undefined;
}
