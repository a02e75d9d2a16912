import type { Graph, Node } from './ir.js';
import { constTensor, type ConstTensor } from './tensor.js';
import { producersOf } from './edges.js';

/**
 * The value of `name` when the file fixes it: an initializer, a Constant node's value, or an Identity of
 * either (PyTorch's exporter writes parameters that share their values that way). Undefined for anything
 * computed from the model's input.
 */
export function constantValue(graph: Graph, name: string, producers: Map<string, Node> = producersOf(graph)): ConstTensor | undefined {
  for (let value = name, hops = 0; hops < 64; hops++) {
    const init = graph.initializers.get(value);
    if (init) return init;
    const p = producers.get(value);
    if (!p || (p.domain !== '' && p.domain !== 'ai.onnx')) return undefined;
    if (p.opType === 'Constant') return constantAttribute(p, value);
    if (p.opType !== 'Identity') return undefined;
    value = p.inputs[0];
  }
  return undefined;
}

function constantAttribute(node: Node, name: string): ConstTensor | undefined {
  const [key, a] = Object.entries(node.attributes)[0] ?? [];
  if (!a) return undefined;
  if (a.type === 'tensor') return { ...a.value, name };
  if (key === 'value_float' && a.type === 'float') return constTensor(name, 'float32', [], Float32Array.of(a.value));
  if (key === 'value_floats' && a.type === 'floats') return constTensor(name, 'float32', [a.value.length], Float32Array.from(a.value));
  if (key === 'value_int' && a.type === 'int') return constTensor(name, 'int64', [], BigInt64Array.of(BigInt(a.value)));
  if (key === 'value_ints' && a.type === 'ints')
    return constTensor(
      name,
      'int64',
      [a.value.length],
      BigInt64Array.from(a.value, (v) => BigInt(v)),
    );
  return undefined;
}
