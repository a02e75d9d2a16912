import type { AttributeValue, FunctionDef, Graph, Model, Node } from '../ir.js';

/**
 * Replaces calls of model-local functions by their bodies (what ONNX Runtime does on load), for the
 * nodes `shouldInline` selects. Body values are renamed under the calling node's name; attributes that
 * refer to the caller's (`ref_attr_name`) take its value, or are dropped when the caller has none, which
 * gives the op's default as ONNX specifies.
 */
export function inlineFunctions(model: Model, shouldInline: (node: Node) => boolean = () => true): Graph {
  const fns = new Map(model.functions.map((f) => [`${f.domain}::${f.name}`, f]));
  const expand = (nodes: Node[], depth: number): Node[] => {
    const out: Node[] = [];
    for (const node of nodes) {
      const fn = fns.get(`${node.domain}::${node.opType}`);
      if (!fn || !shouldInline(node) || depth > 16) {
        out.push(node);
        continue;
      }
      out.push(...expand(instantiate(fn, node), depth + 1));
    }
    return out;
  };
  return { ...model.graph, nodes: expand(model.graph.nodes, 0) };
}

function instantiate(fn: FunctionDef, call: Node): Node[] {
  const rename = new Map<string, string>();
  fn.inputs.forEach((name, i) => rename.set(name, call.inputs[i] ?? ''));
  // An output the caller leaves out stays a value of the body under a local name (a node output may not be '').
  fn.outputs.forEach((name, i) => {
    if (call.outputs[i]) rename.set(name, call.outputs[i]);
  });
  const local = (name: string): string => {
    if (name === '') return '';
    let r = rename.get(name);
    if (r === undefined) {
      r = `${call.name}/${name}`;
      rename.set(name, r);
    }
    return r;
  };
  return fn.nodes.map((n, k) => {
    const attributes: Record<string, AttributeValue> = {};
    for (const [key, a] of Object.entries(n.attributes)) {
      if (a.type !== 'ref') attributes[key] = a;
      else if (call.attributes[a.refAttrName]) attributes[key] = call.attributes[a.refAttrName];
    }
    return {
      name: `${call.name}/${n.name || `${n.opType}_${k}`}`,
      opType: n.opType,
      domain: n.domain,
      inputs: n.inputs.map(local),
      outputs: n.outputs.map(local),
      attributes,
    };
  });
}
