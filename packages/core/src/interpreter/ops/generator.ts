import * as tf from '@tensorflow/tfjs-core';
import type { KernelContext } from '../kernel.js';
import type { OpDeclaration } from '../op-declaration.js';
import { toTfTensor } from '../tensor-convert.js';
import { plain, type RtValue } from '../value.js';
import { input, malformed, unsupported } from './common.js';

// Ops that make tensors from attributes or shapes; exporters emit them in the shape arithmetic around
// Reshape and Expand (ConstantOfShape + Range for a dynamic batch).

function constant(_inputs: (RtValue | undefined)[], ctx: KernelContext): RtValue[] {
  const a = ctx.node.attributes;
  const v = a.value ?? a.value_float ?? a.value_floats ?? a.value_int ?? a.value_ints ?? a.value_string ?? a.value_strings ?? a.sparse_value;
  if (!v) throw malformed(ctx.node, 'no value attribute');
  switch (v.type) {
    case 'tensor':
      return [plain(toTfTensor(v.value))];
    case 'float':
      return [plain(tf.scalar(v.value, 'float32'))];
    case 'floats':
      return [plain(tf.tensor1d(v.value, 'float32'))];
    case 'int':
      return [plain(tf.scalar(v.value, 'int32'))];
    case 'ints':
      return [plain(tf.tensor1d(v.value, 'int32'))];
    default:
      throw unsupported(ctx.node, `a value of type ${v.type} is not supported`);
  }
}

/** A tensor of the given shape filled with the one-element `value` attribute (float 0 by default). */
function constantOfShape(inputs: (RtValue | undefined)[], ctx: KernelContext): RtValue[] {
  input(ctx.node, inputs, 0);
  const shape = ctx.readInts(0) ?? [];
  const v = ctx.node.attributes.value;
  if (!v) return [plain(tf.zeros(shape, 'float32'))];
  if (v.type !== 'tensor') throw malformed(ctx.node, "attribute 'value' must be a tensor");
  const t = toTfTensor(v.value);
  const value = t.dataSync()[0];
  t.dispose();
  return [plain(tf.fill(shape, value, t.dtype))];
}

/** numpy.arange(start, limit, delta) in the inputs' type: start + i * delta for i < ceil((limit - start) / delta). */
function range(inputs: (RtValue | undefined)[], ctx: KernelContext): RtValue[] {
  const dtype = input(ctx.node, inputs, 0).t.dtype;
  const [start, limit, delta] = [0, 1, 2].map((i) => ctx.readFloats(i)?.[0]);
  if (start === undefined || limit === undefined || delta === undefined) throw malformed(ctx.node, 'start, limit and delta are required');
  if (delta === 0) throw malformed(ctx.node, 'delta is 0');
  const n = Math.max(Math.ceil((limit - start) / delta), 0);
  const values = Array.from({ length: n }, (_, i) => start + i * delta);
  return [plain(tf.tensor1d(values, dtype === 'int32' ? 'int32' : 'float32'))];
}

export const GENERATOR_OPS: readonly OpDeclaration[] = [
  { op: 'Constant', since: 1, cost: 'movement', kernel: constant },
  { op: 'ConstantOfShape', since: 9, cost: 'movement', kernel: constantOfShape },
  { op: 'Range', since: 11, cost: 'movement', kernel: range },
];
