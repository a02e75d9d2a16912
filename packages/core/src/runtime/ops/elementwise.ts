import * as tf from '@tensorflow/tfjs-core';
import { attrFloat } from '../attributes.js';
import type { Kernel } from '../kernel.js';
import { defaultRegistry } from '../registry.js';
import { broadcastOperandNhwc, nhwc, plain, type RtValue } from '../value.js';

type Binary = (a: tf.Tensor, b: tf.Tensor) => tf.Tensor;
type Unary = (x: tf.Tensor) => tf.Tensor;

/** Numpy-broadcasting binary op that keeps an NHWC operand's layout and permutes the other to match. */
function binary(fn: Binary): Kernel {
  return ([a, b]) => {
    if (!a || !b) throw new Error('missing operand');
    if (!a.nhwc && !b.nhwc) return [plain(fn(a.t, b.t))];
    const asNhwc = (v: RtValue) => (v.nhwc ? v.t : broadcastOperandNhwc(v.t));
    return [nhwc(fn(asNhwc(a), asNhwc(b)))];
  };
}

/** Elementwise op: layout passes through unchanged. */
function unary(fn: Unary): Kernel {
  return ([x]) => {
    if (!x) throw new Error('missing input');
    return [{ t: fn(x.t), nhwc: x.nhwc }];
  };
}

const div: Binary = (a, b) => (a.dtype === 'int32' && b.dtype === 'int32' ? tf.floorDiv(a, b) : tf.div(a, b));

defaultRegistry.register('Add', binary(tf.add));
defaultRegistry.register('Sub', binary(tf.sub));
defaultRegistry.register('Mul', binary(tf.mul));
defaultRegistry.register('Div', binary(div));
defaultRegistry.register('Pow', binary(tf.pow));
defaultRegistry.register('Max', binary(tf.maximum));
defaultRegistry.register('Min', binary(tf.minimum));

defaultRegistry.register('Relu', unary(tf.relu));
defaultRegistry.register('Sigmoid', unary(tf.sigmoid));
defaultRegistry.register('Tanh', unary(tf.tanh));
defaultRegistry.register('Exp', unary(tf.exp));
defaultRegistry.register('Log', unary(tf.log));
defaultRegistry.register('Sqrt', unary(tf.sqrt));
defaultRegistry.register('Neg', unary(tf.neg));
defaultRegistry.register('Abs', unary(tf.abs));
defaultRegistry.register('Identity', unary((x) => tf.clone(x)));
// Inference semantics: Dropout is the identity (its optional mask output is not produced).
defaultRegistry.register('Dropout', unary((x) => tf.clone(x)));

defaultRegistry.register('LeakyRelu', (inputs, ctx) => unary((x) => tf.leakyRelu(x, attrFloat(ctx.node, 'alpha', 0.01)))(inputs, ctx));

defaultRegistry.register('HardSigmoid', (inputs, ctx) => {
  const alpha = attrFloat(ctx.node, 'alpha', 0.2);
  const beta = attrFloat(ctx.node, 'beta', 0.5);
  return unary((x) => tf.clipByValue(tf.add(tf.mul(x, alpha), beta), 0, 1))(inputs, ctx);
});

defaultRegistry.register('HardSwish', unary((x) => tf.mul(x, tf.clipByValue(tf.add(tf.mul(x, 1 / 6), 0.5), 0, 1))));

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
