import * as tf from '@tensorflow/tfjs-core';
import { dataTypeFromOnnx, onnxTypeName } from '../../graph/dtype.js';
import { attrFloat, attrInt, attrString } from '../attributes.js';
import type { Node, NodeUpgrade } from '../../graph/index.js';
import type { Kernel, KernelContext } from '../kernel.js';
import type { CostClass, OpDeclaration } from '../op-declaration.js';
import { broadcastOperandNhwc, logicalShape, nhwc, plain, type RtValue } from '../value.js';
import { broadcastAll, input, malformed, normAxis, unsupported } from './common.js';
import { customGrad } from '../custom-grad.js';
import { nativeGelu } from '../native/gelu-kernels.js';
import { attributesToInputs, unchanged, withoutAttributes } from './upgrades.js';

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

/**
 * Numpy-broadcasting binary op that keeps an NHWC operand's layout and permutes the other to match; `legacy`:
 * the form before opset 7, where B broadcast only with broadcast=1 (legacyBroadcast).
 */
function binary(fn: Binary, legacy = false): Kernel {
  return (inputs, ctx) => {
    const a = input(ctx.node, inputs, 0);
    let b = input(ctx.node, inputs, 1);
    if (legacy) b = legacyBroadcast(ctx.node, a, b);
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

/**
 * From the legacy form to numpy broadcasting: the same meaning without broadcast=1 (equal shapes) or without
 * an axis (numpy's suffix match); an explicit axis would need B reshaped, which this rewrite does not do.
 */
const numpyBroadcast: NodeUpgrade = (node, tools) => {
  if (attrInt(node, 'broadcast', 0) === 1 && attrInt(node, 'axis') !== undefined) tools.refuse("broadcast=1 with an 'axis' cannot be rewritten to numpy broadcasting");
  return withoutAttributes(node, 'broadcast', 'axis', 'consumed_inputs');
};

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

/** Clip's bounds: attributes before opset 11, optional inputs from 11. */
function clip(form: 'attributes' | 'inputs'): Kernel {
  return (inputs, ctx) => {
    const fromInputs = form === 'inputs';
    const lo = (fromInputs ? ctx.readFloats(1)?.[0] : attrFloat(ctx.node, 'min')) ?? -Infinity;
    const hi = (fromInputs ? ctx.readFloats(2)?.[0] : attrFloat(ctx.node, 'max')) ?? Infinity;
    // ReLU6 is the common case and has a fused kernel.
    if (lo === 0 && hi === 6) return unary(tf.relu6)(inputs, ctx);
    return unary((x) => tf.clipByValue(x, Math.max(lo, -3.4e38), Math.min(hi, 3.4e38)))(inputs, ctx);
  };
}

/**
 * Dropout as in inference: the identity, with an all-kept mask when asked for (of the input's type before
 * opset 10, bool from 10). Random dropout (training_mode=1 from opset 12, with a ratio above 0) cannot match
 * any reference and is refused.
 */
function dropout(form: 7 | 10 | 12): Kernel {
  return (inputs, ctx) => {
    const { node } = ctx;
    const x = input(node, inputs, 0);
    if (form === 12 && ctx.readInts(2)?.[0]) {
      const ratio = ctx.readFloats(1)?.[0] ?? 0.5;
      if (ratio > 0) throw unsupported(node, 'training_mode=1 (random dropout) is not supported; pg runs Dropout as in inference');
    }
    const y = { t: tf.clone(x.t), nhwc: x.nhwc };
    if (!node.outputs[1]) return [y];
    const mask = form >= 10 ? tf.ones(x.t.shape, 'bool') : tf.onesLike(x.t);
    return [y, { t: mask, nhwc: x.nhwc }];
  };
}

function where(inputs: (RtValue | undefined)[], ctx: KernelContext): RtValue[] {
  const { ts, wrap } = aligned([0, 1, 2].map((i) => input(ctx.node, inputs, i)));
  const [c, a, b] = ts;
  // tfjs-wasm's Select reads both branches as the output's type: they must agree (ONNX requires it anyway).
  const [cc, aa, bb] = broadcastAll([c.dtype === 'bool' ? c : tf.cast(c, 'bool'), a, b.dtype === a.dtype ? b : tf.cast(b, a.dtype)]);
  return [wrap(tf.where(cc, aa, bb))];
}

/**
 * Cast's target: a type name before opset 6, an enum from 6. tfjs computes in float32, int32 and bool:
 * doubles narrow to float32, every integer type to int32.
 */
function cast(form: 'name' | 'enum'): Kernel {
  return (inputs, ctx) => {
    const { node } = ctx;
    const x = input(node, inputs, 0);
    const to = form === 'enum' ? attrInt(node, 'to') : onnxCode(attrString(node, 'to'));
    if (to === undefined) throw malformed(node, "attribute 'to' is missing or names no type");
    const ir = dataTypeFromOnnx(to);
    let dtype: tf.DataType;
    if (ir === 'float32' || ir === 'float64') dtype = 'float32';
    else if (ir === 'bool') dtype = 'bool';
    else if (ir && ir !== 'string' && ir !== 'float16') dtype = 'int32';
    else throw unsupported(node, `casting to ${onnxTypeName(to)} is not supported (pg computes in float32, int32 and bool)`);
    return [{ t: x.t.dtype === dtype ? tf.clone(x.t) : tf.cast(x.t, dtype), nhwc: x.nhwc }];
  };
}

/** The element type code of an ONNX type name ('FLOAT', 'INT64'...). */
function onnxCode(name: string | undefined): number | undefined {
  if (name === undefined) return undefined;
  for (let code = 1; code <= 16; code++) if (onnxTypeName(code) === name.toUpperCase()) return code;
  return undefined;
}

const castToEnum: NodeUpgrade = (node, tools) => {
  const code = onnxCode(attrString(node, 'to'));
  if (code === undefined) tools.refuse("attribute 'to' names no ONNX type");
  return { ...node, attributes: { ...node.attributes, to: { type: 'int', value: code! } } };
};

/**
 * Gelu (opset 20): x·Φ(x), exactly 0.5·x·(1 + erf(x/√2)) as PyTorch exports it before opset 20, or its
 * tanh approximation 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) with approximate='tanh'.
 */
function gelu(inputs: (RtValue | undefined)[], ctx: KernelContext): RtValue[] {
  const approximate = attrString(ctx.node, 'approximate', 'none');
  if (approximate !== 'none' && approximate !== 'tanh') throw malformed(ctx.node, `approximate='${approximate}' is neither 'none' nor 'tanh'`);
  const fn: Unary =
    approximate === 'none' ? geluErf : (x) => tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(tf.mul(tf.add(x, tf.mul(tf.mul(tf.mul(x, x), x), 0.044715)), Math.sqrt(2 / Math.PI))), 1));
  return unary(fn)(inputs, ctx);
}

/**
 * x·Φ(x) = 0.5·x·(1 + erf(x/√2)). While training with the native kernels on, one native pass each way (within
 * float rounding of these ops; interpreter/native/gelu-kernels.ts); inference keeps the composed ops, the ONNX
 * function's.
 */
export const geluErf: Unary = (x) => (tf.engine().isTapeOn() ? nativeGelu(x) : undefined) ?? composedGeluErf(x);

/** geluErf from tfjs ops, with its derivative Φ(x) + x·φ(x) written out (a third of autodiff's kernels). */
export const composedGeluErf: Unary = customGrad<[tf.Tensor]>(([x], save) => {
  save([x]);
  const cdf = tf.mul(tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1), 0.5);
  return {
    value: tf.mul(x, cdf),
    gradFunc: (dy, [xs]) => {
      const phi = tf.mul(tf.exp(tf.mul(tf.square(xs), -0.5)), 1 / Math.sqrt(2 * Math.PI));
      const slope = tf.add(tf.mul(tf.add(tf.erf(tf.mul(xs, Math.SQRT1_2)), 1), 0.5), tf.mul(xs, phi));
      return [tf.mul(dy, slope)];
    },
  };
});

/** ONNX Round: halves to even, as tf.round. */
const round: Unary = (x) => tf.round(x);

// Pow's result has the base's type (an integer base with a float exponent truncates, as in ONNX Runtime).
const pow: Binary = (a, b) => (a.dtype === 'int32' && b.dtype !== 'int32' ? tf.cast(tf.pow(a, b), 'int32') : tf.pow(a, b));

/**
 * Pow by the constant 2 (LayerNorm's variance as PyTorch writes it before opset 17) as a square: the same
 * value (x·x, as ONNX Runtime computes it), and a cheaper op and gradient than tfjs's Pow, whose gradient
 * also computes the exponent's.
 */
function powKernel(legacy: boolean): Kernel {
  const general = binary(pow, legacy);
  return (inputs, ctx) => {
    const [a, b] = inputs;
    if (a && b && a.t.dtype === 'float32' && b.t.size === 1 && b.t.rank <= a.t.rank && ctx.readFloats(1)?.[0] === 2) return [{ t: tf.square(a.t), nhwc: a.nhwc }];
    return general(inputs, ctx);
  };
}
const maximum: Binary = (a, b) => tf.maximum(...(broadcastAll([a, b]) as [tf.Tensor, tf.Tensor]));
const minimum: Binary = (a, b) => tf.minimum(...(broadcastAll([a, b]) as [tf.Tensor, tf.Tensor]));

/** A binary op in its two forms: legacy broadcasting (opset 1) and numpy broadcasting (opset 7). */
function binaryForms(op: string, fn: Binary, cost: CostClass = 'elementwise'): OpDeclaration[] {
  return [
    { op, since: 1, cost, kernel: binary(fn, true) },
    { op, since: 7, cost, kernel: binary(fn), upgrade: numpyBroadcast },
  ];
}

const unaryOp = (op: string, fn: Unary, since = 1, cost: CostClass = 'elementwise'): OpDeclaration => ({ op, since, cost, kernel: unary(fn) });
const variadicOp = (op: string, fn: Binary, finish?: (t: tf.Tensor, count: number) => tf.Tensor): OpDeclaration => ({
  op,
  since: 1,
  cost: 'variadic',
  kernel: variadic(fn, finish),
});

export const ELEMENTWISE_OPS: readonly OpDeclaration[] = [
  ...binaryForms('Add', tf.add),
  ...binaryForms('Sub', tf.sub),
  ...binaryForms('Mul', tf.mul),
  ...binaryForms('Div', div),
  { op: 'Pow', since: 1, cost: 'elementwise', kernel: powKernel(true) },
  { op: 'Pow', since: 7, cost: 'elementwise', kernel: powKernel(false), upgrade: numpyBroadcast },
  ...binaryForms('Equal', tf.equal),
  ...binaryForms('Greater', tf.greater),
  ...binaryForms('Less', tf.less),
  { op: 'GreaterOrEqual', since: 12, cost: 'elementwise', kernel: binary(tf.greaterEqual) },
  { op: 'LessOrEqual', since: 12, cost: 'elementwise', kernel: binary(tf.lessEqual) },
  variadicOp('Max', maximum),
  variadicOp('Min', minimum),
  variadicOp('Sum', tf.add),
  variadicOp('Mean', tf.add, (t, n) => tf.div(t, n)),

  unaryOp('Relu', tf.relu),
  unaryOp('Sigmoid', tf.sigmoid),
  unaryOp('Tanh', tf.tanh),
  unaryOp('Exp', tf.exp),
  unaryOp('Log', tf.log),
  unaryOp('Sqrt', tf.sqrt),
  unaryOp('Neg', tf.neg),
  unaryOp('Abs', tf.abs),
  unaryOp('Reciprocal', tf.reciprocal),
  unaryOp('Floor', tf.floor),
  unaryOp('Ceil', tf.ceil),
  unaryOp('Sign', tf.sign, 9),
  unaryOp('Erf', tf.erf, 9),
  { op: 'Gelu', since: 20, cost: 'elementwise', kernel: gelu },
  unaryOp('Round', round, 11),
  unaryOp('Identity', (x) => tf.clone(x), 1, 'movement'),
  unaryOp('HardSwish', (x) => tf.mul(x, tf.clipByValue(tf.add(tf.mul(x, 1 / 6), 0.5), 0, 1)), 14),
  {
    op: 'LeakyRelu',
    since: 1,
    cost: 'elementwise',
    kernel: (inputs, ctx) => unary((x) => tf.leakyRelu(x, attrFloat(ctx.node, 'alpha', 0.01)))(inputs, ctx),
  },
  {
    op: 'HardSigmoid',
    since: 1,
    cost: 'elementwise',
    kernel: (inputs, ctx) => {
      const alpha = attrFloat(ctx.node, 'alpha', 0.2);
      const beta = attrFloat(ctx.node, 'beta', 0.5);
      return unary((x) => tf.clipByValue(tf.add(tf.mul(x, alpha), beta), 0, 1))(inputs, ctx);
    },
  },
  { op: 'Clip', since: 1, cost: 'elementwise', kernel: clip('attributes') },
  {
    op: 'Clip',
    since: 11,
    cost: 'elementwise',
    kernel: clip('inputs'),
    upgrade: attributesToInputs([
      { attr: 'min', as: 'float' },
      { attr: 'max', as: 'float' },
    ]),
  },
  { op: 'Where', since: 9, cost: 'elementwise', kernel: where },
  { op: 'Cast', since: 1, cost: 'movement', kernel: cast('name') },
  { op: 'Cast', since: 6, cost: 'movement', kernel: cast('enum'), upgrade: castToEnum },
  // Before opset 7 Dropout ran in training mode unless is_test=1: not claimed; an upgraded node runs as in inference.
  { op: 'Dropout', since: 7, cost: 'movement', kernel: dropout(7), upgrade: (node) => withoutAttributes(node, 'is_test', 'consumed_inputs') },
  // The mask became bool; inference graphs do not read it.
  { op: 'Dropout', since: 10, cost: 'movement', kernel: dropout(10), upgrade: unchanged },
  { op: 'Dropout', since: 12, cost: 'movement', kernel: dropout(12), upgrade: attributesToInputs([{ attr: 'ratio', as: 'float' }], ['is_test']) },
];
