import { InvalidModelError } from '../errors/index.js';
import type { Graph } from './ir.js';
import { topologicalOrder } from './topo.js';

/**
 * Structural checks every command needs before it touches a graph: no cycles, every node input
 * provided (by a node, a graph input or an initializer: a missing initializer shows up here), and
 * every graph output produced. `where` names the model file in messages.
 */
export function validateGraph(graph: Graph, where: string): void {
  topologicalOrder(graph, where);
  const produced = new Set<string>([...graph.inputs.map((i) => i.name), ...graph.initializers.keys()]);
  for (const n of graph.nodes) for (const o of n.outputs) if (o) produced.add(o);
  for (const out of graph.outputs) {
    if (!produced.has(out.name)) {
      throw new InvalidModelError(`${where}: graph output '${out.name}' is not produced by any node, input or initializer`, {
        action: 'The graph is incomplete; re-export the model, or check it with onnx.checker.check_model.',
      });
    }
  }
}
