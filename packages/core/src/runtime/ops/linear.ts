import * as tf from '@tensorflow/tfjs-core';
import { attrFloat, attrInt } from '../attributes.js';
import type { KernelContext } from '../kernel.js';
import type { OpDeclaration } from '../op-declaration.js';
import { withoutAttributes } from './upgrades.js';
import { plain, toLogical, type RtValue } from '../value.js';

/** ONNX Gemm: alpha * op(A) op(B) + beta * C. */
export function gemm(node: KernelContext['node'], a: tf.Tensor, b: tf.Tensor, c?: tf.Tensor): tf.Tensor {
  const alpha = attrFloat(node, 'alpha', 1);
  const beta = attrFloat(node, 'beta', 1);
  let y = gemmProduct(a, b, attrInt(node, 'transA', 0) === 1, attrInt(node, 'transB', 0) === 1);
  if (alpha !== 1) y = tf.mul(y, alpha);
  if (c) y = tf.add(y, beta === 1 ? c : tf.mul(c, beta));
  return y;
}

/** op(A) op(B), Gemm's product without alpha, beta and C. */
export function gemmProduct(a: tf.Tensor, b: tf.Tensor, transA: boolean, transB: boolean): tf.Tensor {
  if (!transA && transB && a.shape[0] <= b.shape[0]) {
    // A classifier (transB = 1, few rows of A): tfjs-wasm's MatMul with transposeB is far slower than a
    // plain one, and transposing the weight costs as much. (B Aᵀ)ᵀ transposes only the small operands
    // (docs/models.md).
    return tf.transpose(tf.matMul(b as tf.Tensor2D, tf.transpose(a) as tf.Tensor2D));
  }
  return tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D, transA, transB);
}

function gemmKernel(inputs: (RtValue | undefined)[], ctx: KernelContext): RtValue[] {
  const [a, b, c] = inputs;
  return [plain(gemm(ctx.node, toLogical(a!), toLogical(b!), c ? toLogical(c) : undefined))];
}

function matMul([a, b]: (RtValue | undefined)[]): RtValue[] {
  let x = toLogical(a!);
  let w = toLogical(b!);
  // numpy semantics for 1-D operands: promote, multiply, then drop the added dim.
  const squeezeA = x.rank === 1;
  const squeezeB = w.rank === 1;
  if (squeezeA) x = tf.expandDims(x, 0);
  if (squeezeB) w = tf.expandDims(w, 1);
  let y = batchedMatMul(x, w);
  if (squeezeA) y = tf.squeeze(y, [y.rank - 2]);
  if (squeezeB) y = tf.squeeze(y, [y.rank - 1]);
  return [plain(y)];
}

/**
 * numpy matmul of operands of rank >= 2 with broadcast batch dims. tfjs's BatchMatMul gradient does not
 * reduce broadcast dims, so a shared 2-D right operand multiplies the flattened left one, and other
 * broadcasts are made explicit (broadcastTo's gradient reduces them).
 */
function batchedMatMul(x: tf.Tensor, w: tf.Tensor): tf.Tensor {
  if (x.rank === 2 && w.rank === 2) return tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D);
  if (w.rank === 2) {
    const [k, n] = w.shape;
    const lead = x.shape.slice(0, -1);
    return tf.reshape(tf.matMul(tf.reshape(x, [-1, k]) as tf.Tensor2D, w as tf.Tensor2D), [...lead, n]);
  }
  const batch = tf.broadcast_util.assertAndGetBroadcastShape(x.shape.slice(0, -2), w.shape.slice(0, -2));
  const full = (t: tf.Tensor) => {
    const shape = [...batch, ...t.shape.slice(-2)];
    return t.shape.join() === shape.join() ? t : tf.broadcastTo(t, shape);
  };
  return tf.matMul(full(x), full(w));
}

export const MATMUL_OPS: readonly OpDeclaration[] = [
  { op: 'Gemm', since: 1, cost: 'layer', kernel: gemmKernel },
  // Opset 7 dropped `broadcast`: C broadcasts (unidirectionally) whenever its shape allows, as the kernel does.
  { op: 'Gemm', since: 7, cost: 'layer', kernel: gemmKernel, upgrade: (node) => withoutAttributes(node, 'broadcast') },
  { op: 'MatMul', since: 1, cost: 'matmul', kernel: matMul },
];
