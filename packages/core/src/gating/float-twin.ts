import type { Model, Node } from '../graph/index.js';
import { PG_DOMAIN, PG_MATMUL, Q_MATMUL, RECOMPUTE_ATTR, linearOpOf } from './format.js';

const PG_ONLY_ATTRS = new Set(['bits', 'hbits', 'wbits', 'dynamic_scale', RECOMPUTE_ATTR]);

/**
 * The float model a gated model came from: every pg node back to its Conv/Gemm (a PGMatMul/QMatMul to its
 * MatMul and bias Add) with the same weights (which pg keeps float in the file). Fine-tuning distils from it;
 * it needs no copy of the original file.
 */
export function floatTwin(model: Model): Model {
  const nodes = model.graph.nodes.flatMap((n): Node[] => {
    if (n.domain !== PG_DOMAIN) return [n];
    if (n.opType === PG_MATMUL || n.opType === Q_MATMUL) {
      const [x, w, b] = n.inputs;
      const product = `${n.outputs[0]}.pg_matmul`;
      return [
        { name: n.name, opType: 'MatMul', domain: '', inputs: [x, w], outputs: [product], attributes: {} },
        { name: `${n.name}.pg_bias_add`, opType: 'Add', domain: '', inputs: [product, b], outputs: n.outputs, attributes: {} },
      ];
    }
    const opType = linearOpOf(n.opType) ?? n.opType;
    const attributes = Object.fromEntries(Object.entries(n.attributes).filter(([k]) => !PG_ONLY_ATTRS.has(k)));
    const inputs = n.inputs.slice(0, 3);
    while (inputs.length && !inputs[inputs.length - 1]) inputs.pop();
    return [{ ...n, domain: '', opType, inputs, attributes }];
  });
  return { ...model, graph: { ...model.graph, nodes }, functions: model.functions.filter((f) => f.domain !== PG_DOMAIN) };
}
