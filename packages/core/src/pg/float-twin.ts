import type { Model, Node } from '../graph/index.js';
import { PG_CONV, PG_DOMAIN, PG_GEMM, Q_CONV, Q_GEMM, RECOMPUTE_ATTR } from './format.js';

const PG_ONLY_ATTRS = new Set(['bits', 'hbits', 'wbits', 'dynamic_scale', RECOMPUTE_ATTR]);

/**
 * The float model a gated model came from: every pg node back to its Conv/Gemm with the same weights
 * (which pg keeps float in the file). Fine-tuning distils from it; it needs no copy of the original file.
 */
export function floatTwin(model: Model): Model {
  const nodes = model.graph.nodes.map((n): Node => {
    if (n.domain !== PG_DOMAIN) return n;
    const opType = n.opType === PG_CONV || n.opType === Q_CONV ? 'Conv' : n.opType === PG_GEMM || n.opType === Q_GEMM ? 'Gemm' : n.opType;
    const attributes = Object.fromEntries(Object.entries(n.attributes).filter(([k]) => !PG_ONLY_ATTRS.has(k)));
    const inputs = n.inputs.slice(0, 3);
    while (inputs.length && !inputs[inputs.length - 1]) inputs.pop();
    return { ...n, domain: '', opType, inputs, attributes };
  });
  return { ...model, graph: { ...model.graph, nodes }, functions: model.functions.filter((f) => f.domain !== PG_DOMAIN) };
}
