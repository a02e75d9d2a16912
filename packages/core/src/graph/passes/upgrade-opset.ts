import { UnsupportedModelError } from '../../errors/index.js';
import type { Model, Node } from '../ir.js';
import { onnxOpset } from '../ir.js';
import type { OpVersions, UpgradeTools } from '../op-versions.js';
import type { ConstTensor } from '../tensor.js';

/**
 * The lowest IR version of a model at a default-domain opset (ONNX's versioning table, onnx/helper.py: opsets
 * 19 and 20 came with IR 9, 21 and 22 with IR 10, 23 with IR 11; earlier ones need no more than IR 8, which
 * gated models have anyway).
 */
function minIrVersion(opset: number): number {
  if (opset >= 23) return 11;
  if (opset >= 21) return 10;
  if (opset >= 19) return 9;
  return 0;
}

/**
 * Rewrites a model's default-domain nodes to opset `target` (only upwards; a model at or above it is
 * returned as it is). Needed because pg writes its gated ops as ONNX functions that use ops of opset 12
 * (Constant's value_int) and a function's ops are read at the model's opset. `ops` says, per op, at which
 * opsets its form changed and how to rewrite a node across each change (the interpreter's op declarations:
 * attributes that became inputs become initializers named after their node). A node of an op `ops` does not
 * know, or that changed in a way it has no rewrite for, is refused, naming it.
 */
export function upgradeOpset(model: Model, target: number, ops: OpVersions): Model {
  const from = onnxOpset(model);
  if (from >= target) return model;
  const where = model.sourcePath ?? 'the model';
  const initializers = new Map(model.graph.initializers);
  const refuse = (node: Node, why: string): never => {
    throw new UnsupportedModelError(
      `${where} (opset ${from}): node '${node.name}' (${node.opType}) cannot be brought to opset ${target}, which pg needs to write a gated model: ${why}`,
      {
        action: `re-export the model with opset_version >= ${target} (13 recommended)`,
      },
    );
  };

  const nodes = model.graph.nodes.map((node): Node => {
    if (node.domain !== '' && node.domain !== 'ai.onnx') return node;
    const versions = ops.versions(node.domain, node.opType);
    if (!versions) return refuse(node, 'pg does not know how the op changed across opsets');
    const tools = (n: Node): UpgradeTools => ({
      constant: (what: string, t: Omit<ConstTensor, 'name'>): string => {
        const base = `${n.name || n.outputs[0]}.${what}`;
        let name = base;
        for (let k = 1; initializers.has(name); k++) name = `${base}_${k}`;
        initializers.set(name, { ...t, name });
        return name;
      },
      refuse: (why: string) => refuse(n, why),
    });
    let out = node;
    for (const v of versions) {
      if (v.since <= from || v.since > target) continue;
      if (!v.upgrade) return refuse(node, `its form changed at opset ${v.since}, which pg does not rewrite`);
      out = v.upgrade(out, tools(out));
    }
    return out;
  });

  return {
    ...model,
    irVersion: Math.max(model.irVersion, minIrVersion(target)),
    opsetImports: model.opsetImports.map((o) => (o.domain === '' || o.domain === 'ai.onnx' ? { ...o, version: target } : o)),
    graph: { ...model.graph, nodes, initializers },
  };
}
