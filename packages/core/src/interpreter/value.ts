import * as tf from '@tensorflow/tfjs-core';
// As [N, HW, C] <-> [N, C, HW]: tfjs-wasm's 3-D transpose is faster than its 4-D one (docs/architecture.md).
import { transposeCoarse } from './ops/coarse-view.js';

/**
 * A value flowing through the executor. ONNX is NCHW; tfjs's conv and pool kernels want NHWC. Rank-4
 * activations are converted once (at the first op that wants NHWC) and carried as NHWC with this tag, so
 * layout changes happen at the edges of the conv stack, not around every op.
 */
export interface RtValue {
  t: tf.Tensor;
  /** True when `t` holds a rank-4 logical NCHW tensor physically as NHWC. */
  nhwc: boolean;
}

export const NCHW_TO_NHWC = [0, 2, 3, 1];
export const NHWC_TO_NCHW = [0, 3, 1, 2];

export function plain(t: tf.Tensor): RtValue {
  return { t, nhwc: false };
}

export function nhwc(t: tf.Tensor): RtValue {
  return { t, nhwc: true };
}

/** The tensor in logical (ONNX) layout. */
export function toLogical(v: RtValue): tf.Tensor {
  return v.nhwc ? transposeCoarse(v.t, NHWC_TO_NCHW) : v.t;
}

/** The tensor as NHWC; the value must be rank 4. */
export function toNhwc(v: RtValue): tf.Tensor {
  if (v.nhwc) return v.t;
  if (v.t.rank !== 4) throw new Error(`expected a rank-4 tensor, got rank ${v.t.rank}`);
  return transposeCoarse(v.t, NCHW_TO_NHWC);
}

/** Logical shape of a value (ONNX order). */
export function logicalShape(v: RtValue): number[] {
  const s = v.t.shape as number[];
  return v.nhwc ? [s[0], s[3], s[1], s[2]] : s.slice();
}

/**
 * A tensor that broadcasts against a rank-4 NHWC value, from a logical-layout operand of rank <= 4
 * (numpy broadcasting aligns trailing dims, so left-pad to rank 4, then permute like the activation).
 */
export function broadcastOperandNhwc(t: tf.Tensor): tf.Tensor {
  if (t.rank > 4) throw new Error(`cannot broadcast rank-${t.rank} operand against a rank-4 activation`);
  if (t.rank === 0) return t;
  const shape4 = [...new Array<number>(4 - t.rank).fill(1), ...t.shape];
  const r = tf.reshape(t, shape4);
  return tf.transpose(r, NCHW_TO_NHWC);
}

/** Maps a logical NCHW axis to its NHWC position. */
export function nhwcAxis(axis: number): number {
  const a = axis < 0 ? axis + 4 : axis;
  return [0, 3, 1, 2][a];
}
