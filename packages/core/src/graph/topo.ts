import type { Graph, Node } from './ir.js';
import { InvalidModelError } from '../errors/index.js';

/**
 * Nodes in an order where every input is produced before use. Fails on cycles and on inputs that
 * nothing produces (not a graph input, initializer or node output), naming the node at fault.
 */
export function topologicalOrder(graph: Graph, where = 'the model'): Node[] {
  const producer = new Map<string, Node>();
  for (const n of graph.nodes) for (const o of n.outputs) if (o) producer.set(o, n);
  const available = new Set<string>([...graph.inputs.map((i) => i.name), ...graph.initializers.keys()]);
  for (const n of graph.nodes) {
    for (const i of n.inputs) {
      if (i && !available.has(i) && !producer.has(i)) {
        throw new InvalidModelError(`${where}: node '${n.name}' (${n.opType}) reads '${i}', which no node, input or initializer provides`, {
          action: 'The graph is incomplete; re-export the model, or check it with onnx.checker.check_model.',
        });
      }
    }
  }
  const state = new Map<Node, 1 | 2>(); // 1 visiting, 2 done
  const order: Node[] = [];
  const visit = (start: Node): void => {
    // Iterative DFS: exported graphs can be thousands of nodes deep.
    const stack: { node: Node; next: number }[] = [{ node: start, next: 0 }];
    state.set(start, 1);
    while (stack.length) {
      const top = stack[stack.length - 1];
      if (top.next < top.node.inputs.length) {
        const input = top.node.inputs[top.next++];
        const p = input ? producer.get(input) : undefined;
        if (!p || available.has(input)) continue;
        const s = state.get(p);
        if (s === 1) {
          throw new InvalidModelError(`${where}: the graph has a cycle through node '${p.name}' (${p.opType})`, {
            action: 'ONNX graphs must be acyclic; re-export the model.',
          });
        }
        if (s === undefined) {
          state.set(p, 1);
          stack.push({ node: p, next: 0 });
        }
      } else {
        state.set(top.node, 2);
        order.push(top.node);
        stack.pop();
      }
    }
  };
  for (const n of graph.nodes) if (!state.has(n)) visit(n);
  return order;
}
