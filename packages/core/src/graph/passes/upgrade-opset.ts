import { UnsupportedModelError } from '../../errors/index.js';
import type { Model, Node } from '../ir.js';
import { onnxOpset } from '../ir.js';
import { constTensor, type ConstTensor } from '../tensor.js';

/**
 * Ops whose meaning changed between the opset a model was exported at and the target in a way this pass
 * does not rewrite. Every other op pg runs kept its meaning from opset 9 to 12 (later versions only
 * added types or negative axes), so renumbering the import is enough for them.
 */
const NOT_UPGRADED = new Set(['Upsample', 'Resize', 'TopK', 'Scan', 'Loop', 'If', 'Mod', 'ScatterElements', 'Scatter']);

/**
 * Rewrites a model's default-domain nodes to opset `target` (only upwards; a model at or above it is
 * returned as it is). Needed because pg writes its gated ops as ONNX functions that use ops of opset 12
 * (Constant's value_int) and a function's ops are read at the model's opset. Rewritten: Clip's min/max
 * (attributes before 11, inputs from 11), Pad's pads/value (likewise), Slice's starts/ends/axes
 * (attributes before 10) and Dropout's ratio (attribute before 12); each moved attribute becomes an
 * initializer named after its node. BatchNormalization loses `spatial` and `is_test` (before 9), refused
 * when spatial=0.
 */
export function upgradeOpset(model: Model, target: number): Model {
  const from = onnxOpset(model);
  if (from >= target) return model;
  const where = model.sourcePath ?? 'the model';
  const initializers = new Map(model.graph.initializers);
  const add = (node: Node, what: string, t: Omit<ConstTensor, 'name'>): string => {
    let name = `${node.name || node.outputs[0]}.${what}`;
    for (let k = 1; initializers.has(name); k++) name = `${node.name || node.outputs[0]}.${what}_${k}`;
    initializers.set(name, { ...t, name });
    return name;
  };
  const ints = (values: number[]): Omit<ConstTensor, 'name'> => constTensor('', 'int64', [values.length], BigInt64Array.from(values, (v) => BigInt(v)));
  const scalar = (v: number): Omit<ConstTensor, 'name'> => constTensor('', 'float32', [], new Float32Array([v]));

  const nodes = model.graph.nodes.map((node): Node => {
    if (node.domain !== '' && node.domain !== 'ai.onnx') return node;
    if (NOT_UPGRADED.has(node.opType)) {
      throw new UnsupportedModelError(`${where} (opset ${from}): node '${node.name}' (${node.opType}) cannot be brought to opset ${target}, which pg needs to write a gated model`, {
        action: `re-export the model with opset_version >= ${target} (13 recommended)`,
      });
    }
    const attr = (n: string) => node.attributes[n];
    const num = (n: string): number | undefined => {
      const a = attr(n);
      return a && (a.type === 'float' || a.type === 'int') ? a.value : undefined;
    };
    const list = (n: string): number[] | undefined => {
      const a = attr(n);
      return a && a.type === 'ints' ? a.value : undefined;
    };
    const without = (...names: string[]) => Object.fromEntries(Object.entries(node.attributes).filter(([k]) => !names.includes(k)));
    if (node.opType === 'Clip' && from < 11) {
      const lo = num('min');
      const hi = num('max');
      const inputs = [node.inputs[0], lo === undefined ? '' : add(node, 'min', scalar(lo)), hi === undefined ? '' : add(node, 'max', scalar(hi))];
      while (inputs.length > 1 && inputs[inputs.length - 1] === '') inputs.pop();
      return { ...node, inputs, attributes: without('min', 'max') };
    }
    if (node.opType === 'Pad' && from < 11) {
      const pads = list('pads') ?? [];
      const value = num('value') ?? 0;
      return { ...node, inputs: [node.inputs[0], add(node, 'pads', ints(pads)), add(node, 'value', scalar(value))], attributes: without('pads', 'value') };
    }
    if (node.opType === 'Slice' && from < 10) {
      const starts = list('starts') ?? [];
      const ends = list('ends') ?? [];
      const axes = list('axes');
      const inputs = [node.inputs[0], add(node, 'starts', ints(starts)), add(node, 'ends', ints(ends))];
      if (axes !== undefined) inputs.push(add(node, 'axes', ints(axes)));
      return { ...node, inputs, attributes: without('starts', 'ends', 'axes') };
    }
    if (node.opType === 'BatchNormalization' && from < 9) {
      // Before opset 9 BN had `spatial` (1: per channel, what later opsets always do) and, before 7, `is_test`.
      if (num('spatial') === 0) {
        throw new UnsupportedModelError(`${where} (opset ${from}): node '${node.name}' (BatchNormalization) has spatial=0 (statistics per activation), which opset ${target} cannot express`, {
          action: 'export the model with BatchNormalization folded into the layer before it, or at opset 9 or later',
        });
      }
      return { ...node, attributes: without('spatial', 'is_test', 'consumed_inputs') };
    }
    if (node.opType === 'Dropout' && from < 12) {
      const ratio = num('ratio');
      const inputs = ratio === undefined ? [node.inputs[0]] : [node.inputs[0], add(node, 'ratio', scalar(ratio))];
      return { ...node, inputs, attributes: without('ratio', 'is_test') };
    }
    return node;
  });

  return {
    ...model,
    opsetImports: model.opsetImports.map((o) => (o.domain === '' || o.domain === 'ai.onnx' ? { ...o, version: target } : o)),
    graph: { ...model.graph, nodes, initializers },
  };
}
