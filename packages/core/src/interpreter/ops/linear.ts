import * as tf from '@tensorflow/tfjs-core';
import { attrFloat, attrInt } from '../attributes.js';
import type { KernelContext } from '../kernel.js';
import type { OpDeclaration } from '../op-declaration.js';
import { withoutAttributes } from './upgrades.js';
import { customGrad } from '../custom-grad.js';
import { nativeBatchMatMul } from '../native/matmul-kernels.js';
import { nativeConv, nativeConvAvailable, nativeConvFilterBiasGrad, nativeConvFilterGrad, nativeConvInputGrad, type NativeGeometry } from '../native/native-grads.js';
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
  if (x.rank === 2 && w.rank === 2) return product(x, w);
  if (w.rank === 2) {
    const [k, n] = w.shape;
    const lead = x.shape.slice(0, -1);
    return tf.reshape(product(tf.reshape(x, [-1, k]), w), [...lead, n]);
  }
  const batch = tf.broadcast_util.assertAndGetBroadcastShape(x.shape.slice(0, -2), w.shape.slice(0, -2));
  const full = (t: tf.Tensor) => {
    const shape = [...batch, ...t.shape.slice(-2)];
    return t.shape.join() === shape.join() ? t : tf.broadcastTo(t, shape);
  };
  return product(full(x), full(w));
}

/** t with its last two axes swapped. */
function swapLast(t: tf.Tensor): tf.Tensor {
  const perm = t.shape.map((_, i) => i);
  [perm[t.rank - 2], perm[t.rank - 1]] = [perm[t.rank - 1], perm[t.rank - 2]];
  return tf.transpose(t, perm);
}

/**
 * a·b (equal batch dims), on oneDNN when it can (nativeProduct), else tfjs's BatchMatMul with gradients dy·bᵀ
 * and aᵀ·dy that multiply operands transposed first: tfjs's own gradient asks BatchMatMul for transposed
 * operands, which tfjs-wasm runs much slower than a transpose and a plain product (docs/architecture.md).
 */
function product(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  return nativeProduct(a, b) ?? tfjsProduct(a, b);
}

const tfjsProduct = customGrad<[tf.Tensor, tf.Tensor]>(([a, b], save) => {
  save([a, b]);
  return { value: tf.matMul(a, b), gradFunc: (dy, [sa, sb]) => [tf.matMul(dy, swapLast(sb)), tf.matMul(swapLast(sa), dy)] };
});

const POINTWISE: NativeGeometry = { strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1] };

/** The 1x1 convolution x [1, 1, M, K] by w [1, 1, K, F], with its gradients on oneDNN. */
const pointwise = customGrad<[tf.Tensor4D, tf.Tensor4D]>(([x, w], save) => {
  save([x, w]);
  return {
    value: nativeConv(x, w, POINTWISE, 1)!,
    gradFunc: (dy, [sx, sw]) => [
      nativeConvInputGrad(dy as tf.Tensor4D, sw as tf.Tensor4D, sx.shape, POINTWISE, 1)!,
      nativeConvFilterGrad(sx as tf.Tensor4D, dy as tf.Tensor4D, sw.shape, POINTWISE, 1)!,
    ],
  };
});

/**
 * a [..., M, K] · b [..., K, F] (equal batch dims) on oneDNN, forward and both gradients, when the native
 * kernels are on: one matrix as a 1x1 convolution of a row of M pixels (a linear layer on tokens), a batch of
 * them (the attention's many small products, Q·Kᵀ per head) as one sgemm each, the gradients' transposed
 * operands read in place (matmul-kernels.ts). Faster than tfjs-wasm's BatchMatMul for both
 * (docs/architecture.md). Undefined otherwise.
 */
function nativeProduct(a: tf.Tensor, b: tf.Tensor): tf.Tensor | undefined {
  const [m, k] = a.shape.slice(-2);
  const f = b.shape[b.rank - 1];
  const batch = a.shape.slice(0, -2);
  if (batch.some((d) => d !== 1)) return nativeBatchMatMul(a, b);
  const x = tf.reshape(a, [1, 1, m, k]) as tf.Tensor4D;
  if (b.dtype !== 'float32' || !nativeConvAvailable(x, [1, 1, k, f], POINTWISE, 1)) return undefined;
  return tf.reshape(pointwise(x, tf.reshape(b, [1, 1, k, f]) as tf.Tensor4D), [...batch, m, f]);
}

/**
 * x · w over x's last axis (w is [K, F]), plus a bias [F]: a linear layer on token activations. With the native
 * kernels on, the bias is added by the product's convolution and its gradient comes out of the weight
 * gradient's pass (no separate add, nor a sum over every token for the bias gradient).
 */
export function tokenLinear(x: tf.Tensor, w: tf.Tensor, bias?: tf.Tensor): tf.Tensor {
  const biased = bias ? nativeBiasedProduct(x, w, bias) : undefined;
  if (biased) return biased;
  const y = batchedMatMul(x, w);
  return bias ? tf.add(y, bias) : y;
}

/** x [..., K] · w [K, F] + bias [F] as one oneDNN 1x1 convolution of [1, 1, M, K] with its bias, or undefined. */
function nativeBiasedProduct(x: tf.Tensor, w: tf.Tensor, bias: tf.Tensor): tf.Tensor | undefined {
  if (w.rank !== 2 || x.rank < 2 || bias.rank !== 1) return undefined;
  const [k, f] = w.shape;
  if (x.shape[x.rank - 1] !== k || bias.shape[0] !== f || w.dtype !== 'float32') return undefined;
  const xi = tf.reshape(x, [1, 1, x.size / k, k]) as tf.Tensor4D;
  if (!nativeConvAvailable(xi, [1, 1, k, f], POINTWISE, 1, bias)) return undefined;
  return tf.reshape(pointwiseBiased(xi, tf.reshape(w, [1, 1, k, f]) as tf.Tensor4D, bias), [...x.shape.slice(0, -1), f]);
}

const pointwiseBiased = customGrad<[tf.Tensor4D, tf.Tensor4D, tf.Tensor]>(([x, w, b], save) => {
  save([x, w]);
  return {
    value: nativeConv(x, w, POINTWISE, 1, b)!,
    gradFunc: (dy, [sx, sw]) => {
      const [dw, db] = nativeConvFilterBiasGrad(sx as tf.Tensor4D, dy as tf.Tensor4D, sw.shape, POINTWISE, 1)!;
      return [nativeConvInputGrad(dy as tf.Tensor4D, sw as tf.Tensor4D, sx.shape, POINTWISE, 1)!, dw, db];
    },
  };
});

export const MATMUL_OPS: readonly OpDeclaration[] = [
  { op: 'Gemm', since: 1, cost: 'layer', kernel: gemmKernel },
  // Opset 7 dropped `broadcast`: C broadcasts (unidirectionally) whenever its shape allows, as the kernel does.
  { op: 'Gemm', since: 7, cost: 'layer', kernel: gemmKernel, upgrade: (node) => withoutAttributes(node, 'broadcast') },
  { op: 'MatMul', since: 1, cost: 'matmul', kernel: matMul },
];
