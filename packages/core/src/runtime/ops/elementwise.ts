import * as tf from '@tensorflow/tfjs-core';
import { dataTypeFromOnnx, onnxTypeName } from '../../graph/dtype.js';
import { attrFloat, attrInt, attrString } from '../attributes.js';
import type { Node } from '../../graph/index.js';
import type { Kernel, KernelContext } from '../kernel.js';
import { defaultRegistry } from '../registry.js';
import { broadcastOperandNhwc, logicalShape, nhwc, plain, type RtValue } from '../value.js';
import { broadcastAll, input, malformed, normAxis, unsupported } from './common.js';

type Binary = (a: tf.Tensor, b: tf.Tensor) => tf.Tensor;
type Unary = (x: tf.Tensor) => tf.Tensor;

/**
 * The operands' tensors in one layout: as they are when none is NHWC, else all NHWC (an NHWC operand keeps
 * its layout and the others, of rank <= 4, are permuted to match), with the layout of the result.
 */
function aligned(vs: RtValue[]): { ts: tf.Tensor[]; wrap: (t: tf.Tensor) => RtValue } {
  if (!vs.some((v) => v.nhwc)) return { ts: vs.map((v) => v.t), wrap: plain };
  return { ts: vs.map((v) => (v.nhwc ? v.t : broadcastOperandNhwc(v.t))), wrap: nhwc };
}

/** Numpy-broadcasting binary op that keeps an NHWC operand's layout and permutes the other to match. */
function binary(fn: Binary): Kernel {
  return (inputs, ctx) => {
    const a = input(ctx.node, inputs, 0);
    let b = input(ctx.node, inputs, 1);
    if (ctx.opset < 7) b = legacyBroadcast(ctx.node, a, b);
    const { ts, wrap } = aligned([a, b]);
    return [wrap(fn(ts[0], ts[1]))];
  };
}

/**
 * Before opset 7, arithmetic broadcast B only with broadcast=1, its dims matching A's from `axis` on (a
 * suffix match, as numpy's, when `axis` is absent): reshape B so numpy broadcasting does the same.
 */
function legacyBroadcast(node: Node, a: RtValue, b: RtValue): RtValue {
  const axis = attrInt(node, 'axis');
  if (attrInt(node, 'broadcast', 0) !== 1 || axis === undefined || b.nhwc) return b;
  const rank = logicalShape(a).length;
  const at = normAxis(axis, rank);
  return plain(tf.reshape(b.t, [...new Array<number>(at).fill(1), ...b.t.shape, ...new Array<number>(rank - at - b.t.rank).fill(1)]));
}

/** Max, Min, Sum, Mean: any number of operands (broadcasting from opset 8, equal shapes before). */
function variadic(fn: Binary, finish: (t: tf.Tensor, count: number) => tf.Tensor = (t) => t): Kernel {
  return (inputs, ctx) => {
    const vs = inputs.filter((v): v is RtValue => !!v);
    if (!vs.length) throw malformed(ctx.node, 'no inputs');
    const { ts, wrap } = aligned(vs);
    return [wrap(finish(ts.length === 1 ? tf.clone(ts[0]) : ts.reduce((a, b) => fn(a, b)), ts.length))];
  };
}

/** Elementwise op: layout passes through unchanged. */
function unary(fn: Unary): Kernel {
  return (inputs, ctx) => {
    const x = input(ctx.node, inputs, 0);
    return [{ t: fn(x.t), nhwc: x.nhwc }];
  };
}

/** Integer division truncates toward zero in ONNX (as C does); tfjs's floors. */
const div: Binary = (a, b) => {
  if (a.dtype !== 'int32' || b.dtype !== 'int32') return tf.div(a, b);
  const q = tf.floorDiv(a, b);
  const inexact = tf.notEqual(tf.sub(a, tf.mul(q, b)), tf.scalar(0, 'int32'));
  const negative = tf.notEqual(tf.less(a, tf.scalar(0, 'int32')), tf.less(b, tf.scalar(0, 'int32')));
  return tf.add(q, tf.cast(tf.logicalAnd(inexact, negative), 'int32'));
};

defaultRegistry.register('Add', binary(tf.add));
defaultRegistry.register('Sub', binary(tf.sub));
defaultRegistry.register('Mul', binary(tf.mul));
defaultRegistry.register('Div', binary(div));
// Pow's result has the base's type (an integer base with a float exponent truncates, as in ONNX Runtime).
defaultRegistry.register('Pow', binary((a, b) => (a.dtype === 'int32' && b.dtype !== 'int32' ? tf.cast(tf.pow(a, b), 'int32') : tf.pow(a, b))));
defaultRegistry.register('Max', variadic((a, b) => tf.maximum(...(broadcastAll([a, b]) as [tf.Tensor, tf.Tensor]))));
defaultRegistry.register('Min', variadic((a, b) => tf.minimum(...(broadcastAll([a, b]) as [tf.Tensor, tf.Tensor]))));
defaultRegistry.register('Sum', variadic(tf.add));
defaultRegistry.register('Mean', variadic(tf.add, (t, n) => tf.div(t, n)));
defaultRegistry.register('Equal', binary(tf.equal));

defaultRegistry.register('Relu', unary(tf.relu));
defaultRegistry.register('Sigmoid', unary(tf.sigmoid));
defaultRegistry.register('Tanh', unary(tf.tanh));
defaultRegistry.register('Exp', unary(tf.exp));
defaultRegistry.register('Log', unary(tf.log));
defaultRegistry.register('Sqrt', unary(tf.sqrt));
defaultRegistry.register('Neg', unary(tf.neg));
defaultRegistry.register('Abs', unary(tf.abs));
defaultRegistry.register('Identity', unary((x) => tf.clone(x)));
// Dropout before opset 7 ran in training mode unless is_test=1: not claimed.
defaultRegistry.register('Dropout', dropout, { minOpset: 7 });
defaultRegistry.register('Where', where, { minOpset: 9 });
defaultRegistry.register('Cast', cast);

defaultRegistry.register('LeakyRelu', (inputs, ctx) => unary((x) => tf.leakyRelu(x, attrFloat(ctx.node, 'alpha', 0.01)))(inputs, ctx));

defaultRegistry.register('HardSigmoid', (inputs, ctx) => {
  const alpha = attrFloat(ctx.node, 'alpha', 0.2);
  const beta = attrFloat(ctx.node, 'beta', 0.5);
  return unary((x) => tf.clipByValue(tf.add(tf.mul(x, alpha), beta), 0, 1))(inputs, ctx);
});

defaultRegistry.register('HardSwish', unary((x) => tf.mul(x, tf.clipByValue(tf.add(tf.mul(x, 1 / 6), 0.5), 0, 1))), { minOpset: 14 });

defaultRegistry.register('Clip', (inputs, ctx) => {
  // Before opset 11 the bounds are attributes; from 11 they are optional inputs.
  let lo = -Infinity;
  let hi = Infinity;
  if (ctx.opset < 11) {
    lo = attrFloat(ctx.node, 'min', -Infinity);
    hi = attrFloat(ctx.node, 'max', Infinity);
  } else {
    lo = ctx.readFloats(1)?.[0] ?? -Infinity;
    hi = ctx.readFloats(2)?.[0] ?? Infinity;
  }
  // ReLU6 is the common case and has a fused kernel.
  if (lo === 0 && hi === 6) return unary(tf.relu6)(inputs, ctx);
  return unary((x) => tf.clipByValue(x, Math.max(lo, -3.4e38), Math.min(hi, 3.4e38)))(inputs, ctx);
});

/**
 * Dropout as in inference: the identity, with an all-kept mask when asked for. Random dropout
 * (training_mode=1 from opset 12, with a ratio above 0) cannot match any reference and is refused.
 */
function dropout(inputs: (RtValue | undefined)[], ctx: KernelContext): RtValue[] {
  const { node } = ctx;
  const x = input(node, inputs, 0);
  if (ctx.opset >= 12 && ctx.readInts(2)?.[0]) {
    const ratio = ctx.readFloats(1)?.[0] ?? 0.5;
    if (ratio > 0) throw unsupported(node, 'training_mode=1 (random dropout) is not supported; pg runs Dropout as in inference');
  }
  const y = { t: tf.clone(x.t), nhwc: x.nhwc };
  if (!node.outputs[1]) return [y];
  // The mask is bool from opset 10, the input's type before.
  const mask = ctx.opset >= 10 ? tf.ones(x.t.shape, 'bool') : tf.onesLike(x.t);
  return [y, { t: mask, nhwc: x.nhwc }];
}

function where(inputs: (RtValue | undefined)[], ctx: KernelContext): RtValue[] {
  const { ts, wrap } = aligned([0, 1, 2].map((i) => input(ctx.node, inputs, i)));
  const [c, a, b] = ts;
  // tfjs-wasm's Select reads both branches as the output's type: they must agree (ONNX requires it anyway).
  const [cc, aa, bb] = broadcastAll([c.dtype === 'bool' ? c : tf.cast(c, 'bool'), a, b.dtype === a.dtype ? b : tf.cast(b, a.dtype)]);
  return [wrap(tf.where(cc, aa, bb))];
}

/** tfjs computes in float32, int32 and bool: doubles narrow to float32, every integer type to int32. */
function cast(inputs: (RtValue | undefined)[], ctx: KernelContext): RtValue[] {
  const { node } = ctx;
  const x = input(node, inputs, 0);
  // Opset 6 made `to` an enum; before it was the type's name.
  const to = ctx.opset >= 6 ? attrInt(node, 'to') : onnxCode(attrString(node, 'to'));
  if (to === undefined) throw malformed(node, "attribute 'to' is missing");
  const ir = dataTypeFromOnnx(to);
  let dtype: tf.DataType;
  if (ir === 'float32' || ir === 'float64') dtype = 'float32';
  else if (ir === 'bool') dtype = 'bool';
  else if (ir && ir !== 'string' && ir !== 'float16') dtype = 'int32';
  else throw unsupported(node, `casting to ${onnxTypeName(to)} is not supported (pg computes in float32, int32 and bool)`);
  return [{ t: x.t.dtype === dtype ? tf.clone(x.t) : tf.cast(x.t, dtype), nhwc: x.nhwc }];
}

/** The element type code of an ONNX type name ('FLOAT', 'INT64'...). */
function onnxCode(name: string | undefined): number | undefined {
  if (name === undefined) return undefined;
  for (let code = 1; code <= 16; code++) if (onnxTypeName(code) === name.toUpperCase()) return code;
  return undefined;
}
