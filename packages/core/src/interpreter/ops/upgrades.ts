import { constTensor, type AttributeValue, type ConstTensor, type Node, type NodeUpgrade } from '../../graph/index.js';

// Rewrites of a node from an op's previous form into its next (OpDeclaration.upgrade), shared by the op
// families. Each keeps the node's meaning; the opset upgrade pass (graph/passes/upgrade-opset.ts) runs them.

/** A node without some attributes. */
export function withoutAttributes(node: Node, ...names: string[]): Node {
  return { ...node, attributes: Object.fromEntries(Object.entries(node.attributes).filter(([k]) => !names.includes(k))) };
}

/** An attribute under a new name. */
export function renameAttribute(node: Node, from: string, to: string): Node {
  const { [from]: a, ...rest } = node.attributes;
  return a ? { ...node, attributes: { ...rest, [to]: a } } : node;
}

/** The form did not change for a node pg runs (only types or optional features were added). */
export const unchanged: NodeUpgrade = (node) => node;

type Moved = { attr: string; as: 'ints' | 'float' };

const tensorOf = (a: AttributeValue, as: Moved['as']): Omit<ConstTensor, 'name'> | undefined => {
  if (as === 'ints' && a.type === 'ints')
    return constTensor(
      '',
      'int64',
      [a.value.length],
      BigInt64Array.from(a.value, (v) => BigInt(v)),
    );
  if (as === 'float' && (a.type === 'float' || a.type === 'int')) return constTensor('', 'float32', [], new Float32Array([a.value]));
  return undefined;
};

/**
 * Attributes that became inputs (Clip's min/max, Slice's starts/ends/axes, the Reduce ops' axes...): each
 * becomes an initializer, in order after the node's first input ('' for an absent one; trailing absent ones
 * dropped); `drop` lists attributes the new form no longer has.
 */
export function attributesToInputs(moved: Moved[], drop: string[] = []): NodeUpgrade {
  return (node, tools) => {
    const inputs = [node.inputs[0]];
    for (const m of moved) {
      const a = node.attributes[m.attr];
      if (!a) {
        inputs.push('');
        continue;
      }
      const t = tensorOf(a, m.as);
      if (!t) tools.refuse(`attribute '${m.attr}' is ${a.type}, not ${m.as}`);
      inputs.push(tools.constant(m.attr, t!));
    }
    while (inputs.length > 1 && inputs[inputs.length - 1] === '') inputs.pop();
    return { ...withoutAttributes(node, ...moved.map((m) => m.attr), ...drop), inputs };
  };
}

/** The axes attribute of Reduce*, Squeeze and Unsqueeze became input 1. */
export const axesToInput: NodeUpgrade = attributesToInputs([{ attr: 'axes', as: 'ints' }]);
