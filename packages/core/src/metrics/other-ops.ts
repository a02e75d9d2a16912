import type { Node } from '../graph/index.js';
import { opRegistry } from '../gating/op-registry.js';
import { attrInts } from '../interpreter/attributes.js';
import type { CostClass } from '../interpreter/op-declaration.js';
import type { OpRegistry } from '../interpreter/registry.js';
import type { OtherOpCount } from './report-types.js';

const elements = (shape: readonly number[] | undefined): number => (shape ? shape.slice(1).reduce((a, d) => a * d, 1) : 0);

/**
 * Operations per sample of one node that is not a Conv/Gemm layer (docs/cost-models.md, "Other ops"), from
 * the shapes of its values at batch 1 and its op's cost class (interpreter/op-declaration.ts): output elements ×
 * the work per element (element-wise arithmetic and activations 1, normalisations 2, softmax 3, variadic ops
 * inputs − 1, windowed pooling k_h·k_w, MatMul K), input elements for reductions, 0 for data movement.
 * Conv/Gemm layers (and pg's) are priced as layers: 0 here. An op the registry does not know is an error:
 * only models pg ran are counted.
 */
export function nodeOps(node: Node, shapes: ReadonlyMap<string, readonly number[]>, registry: OpRegistry = opRegistry): number {
  const cost = registry.cost(node.domain, node.opType);
  if (cost === undefined) throw new Error(`other ops: no cost class for op '${node.domain ? `${node.domain}.` : ''}${node.opType}' (it has no declaration in the registry)`);
  const out = elements(shapes.get(node.outputs[0]));
  const perClass: Record<CostClass, () => number> = {
    layer: () => 0,
    movement: () => 0,
    elementwise: () => out,
    variadic: () => out * Math.max(node.inputs.filter((i) => i !== '').length - 1, 1),
    window: () => out * (attrInts(node, 'kernel_shape') ?? []).reduce((a, k) => a * k, 1),
    reduction: () => elements(shapes.get(node.inputs[0])),
    normalization: () => out * 2,
    softmax: () => out * 3,
    matmul: () => {
      const a = shapes.get(node.inputs[0]);
      return out * (a ? a[a.length - 1] : 0);
    },
  };
  return perClass[cost]();
}

/** The other ops of a graph, by op type (in order of first appearance), with their operations per sample. */
export function otherOpCounts(nodes: readonly Node[], shapes: ReadonlyMap<string, readonly number[]>, registry: OpRegistry = opRegistry): OtherOpCount[] {
  const byOp = new Map<string, OtherOpCount>();
  for (const node of nodes) {
    if (registry.cost(node.domain, node.opType) === 'layer') continue;
    const key = node.domain ? `${node.domain}.${node.opType}` : node.opType;
    const c = byOp.get(key) ?? { op: key, nodes: 0, ops: 0 };
    c.nodes++;
    c.ops += nodeOps(node, shapes, registry);
    byOp.set(key, c);
  }
  return [...byOp.values()];
}
