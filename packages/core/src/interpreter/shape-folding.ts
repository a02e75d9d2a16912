import * as tf from '@tensorflow/tfjs-core';
import type { Graph, Node } from '../graph/index.js';
import { normaliseDomain } from './registry.js';
import type { RtValue } from './value.js';

/**
 * Folding of shape arithmetic. Exporters compute Reshape targets and Slice bounds with chains like
 * Shape → Gather → Unsqueeze → Concat (ShuffleNet has ~400 such nodes): tiny int tensors, but each is a
 * tfjs op (and a data read) on every run. A node is *folded* when it is one of the deterministic ops below
 * and all its inputs are integer initializers or outputs of folded nodes; a Shape node is a *source*: its
 * output depends only on the shape of its input. So a folded value is a function of the shapes its sources
 * saw in this run, and the executor caches it per those shapes (the key): a new batch size makes a new
 * entry, the same shapes reuse the tensors (and their numbers) computed the first time. Keying on the shapes
 * actually seen, not on the feeds' shapes, keeps it exact even where a shape depends on data.
 */

/** Ops whose output is a pure function of their inputs' values (and attributes): safe to cache. */
const FOLDABLE_OPS = new Set([
  'Constant',
  'ConstantOfShape',
  'Range',
  'Identity',
  'Cast',
  'Gather',
  'Unsqueeze',
  'Squeeze',
  'Concat',
  'Reshape',
  'Flatten',
  'Slice',
  'Split',
  'Expand',
  'Transpose',
  'Add',
  'Sub',
  'Mul',
  'Div',
  'Neg',
  'Abs',
  'Max',
  'Min',
  'Sum',
  'Equal',
  'Where',
  'ReduceProd',
]);

const INTEGER_TYPES = new Set(['int8', 'uint8', 'int16', 'uint16', 'int32', 'int64', 'uint32', 'uint64', 'bool']);

/** How a node takes part in folding. */
export interface FoldRole {
  /** 'source': a Shape node (records its input's shape); 'folded': computed from sources and constants. */
  kind: 'source' | 'folded';
  /** Outputs of the Shape nodes this node's value depends on, in execution order: the cache key's parts. */
  sources: string[];
}

/**
 * Which nodes of `order` fold (by index). Float initializers are not folded over (they may be swapped for
 * trainable variables), nor nodes producing a graph output (the caller owns and disposes outputs).
 */
export function planFolding(graph: Graph, order: readonly Node[]): Map<number, FoldRole> {
  const roles = new Map<number, FoldRole>();
  const byValue = new Map<string, FoldRole>();
  const graphOutputs = new Set(graph.outputs.map((o) => o.name));
  order.forEach((node, i) => {
    if (normaliseDomain(node.domain) !== '' || node.outputs.some((o) => graphOutputs.has(o))) return;
    let role: FoldRole | undefined;
    if (node.opType === 'Shape') {
      role = { kind: 'source', sources: [node.outputs[0]] };
    } else if (FOLDABLE_OPS.has(node.opType)) {
      const sources = new Set<string>();
      const foldable = node.inputs.every((v) => {
        if (!v) return true;
        const from = byValue.get(v);
        if (from) {
          from.sources.forEach((s) => sources.add(s));
          return true;
        }
        const init = graph.initializers.get(v);
        return !!init && INTEGER_TYPES.has(init.dtype);
      });
      if (foldable) role = { kind: 'folded', sources: [...sources] };
    }
    if (!role) return;
    roles.set(i, role);
    for (const o of node.outputs) if (o) byValue.set(o, role);
  });
  return roles;
}

/** The dims a Shape node outputs for an input of logical shape `shape` (its start/end attributes, opset 15). */
export function shapeVector(node: Node, shape: readonly number[]): number[] {
  const attr = (name: string): number | undefined => {
    const a = node.attributes[name];
    return a && a.type === 'int' ? a.value : undefined;
  };
  const start = attr('start');
  const end = attr('end');
  return start !== undefined || end !== undefined ? shape.slice(start ?? 0, end ?? shape.length) : shape.slice();
}

/** A folded node's outputs for one key, kept across runs. */
export interface FoldedOutputs {
  values: RtValue[];
  /** The outputs' numbers, read once when a kernel first asks (Reshape's shape, Slice's bounds...). */
  numbers: (number[] | undefined)[];
}

/** Most keys kept per node: a dynamic batch makes one per batch size; past this the node's entries reset. */
const MAX_KEYS_PER_NODE = 16;

/** Folded values by node and key. Tensors are kept (outside any tidy) until `dispose`. */
export class FoldCache {
  private readonly entries = new Map<number, Map<string, FoldedOutputs>>();
  private readonly owned = new WeakSet<tf.Tensor>();

  get(node: number, key: string): FoldedOutputs | undefined {
    return this.entries.get(node)?.get(key);
  }

  set(node: number, key: string, values: RtValue[]): FoldedOutputs {
    let byKey = this.entries.get(node);
    if (!byKey) this.entries.set(node, (byKey = new Map()));
    if (byKey.size >= MAX_KEYS_PER_NODE) {
      for (const e of byKey.values()) disposeOutputs(e);
      byKey.clear();
    }
    for (const v of values) {
      tf.keep(v.t);
      this.owned.add(v.t);
    }
    const entry = { values, numbers: values.map(() => undefined) };
    byKey.set(key, entry);
    return entry;
  }

  /** True for a tensor the cache holds: the executor must not dispose it when a run frees its value. */
  owns(t: tf.Tensor): boolean {
    return this.owned.has(t);
  }

  /** Number of cached entries (for tests). */
  get size(): number {
    let n = 0;
    for (const byKey of this.entries.values()) n += byKey.size;
    return n;
  }

  dispose(): void {
    for (const byKey of this.entries.values()) for (const e of byKey.values()) disposeOutputs(e);
    this.entries.clear();
  }
}

function disposeOutputs(e: FoldedOutputs): void {
  for (const v of e.values) v.t.dispose();
}
