import * as tf from '@tensorflow/tfjs-core';
import type { RecurrentProducts, RecurrentSpec, ResetGate } from './recurrent.js';

// One time step of ONNX's RNN, GRU and LSTM cells with the default activations, in ONNX's gate order and
// formulas (docs: onnx Operators.md), with clip and LSTM peepholes and input_forget as ONNX Runtime applies them.

export interface CellState {
  h: tf.Tensor2D;
  /** LSTM only. */
  c?: tf.Tensor2D;
}

export interface RecurrentCell {
  spec: RecurrentSpec;
  products: RecurrentProducts;
  /** GRU with linear_before_reset: Rb_h, added to the hidden gate's recurrent product under the reset gate. */
  recurrentBias?: tf.Tensor1D;
  /** LSTM peepholes of this direction. */
  peepholes?: { i: tf.Tensor1D; o: tf.Tensor1D; f: tf.Tensor1D };
}

/** The next state from the input products of step t (x_t W^T plus the biases that add to it), [N, G·H]. */
export function recurrentStep(cell: RecurrentCell, xp: tf.Tensor2D, state: CellState, t: number): CellState {
  switch (cell.spec.kind) {
    case 'lstm':
      return lstmStep(cell, xp, state, t);
    case 'gru':
      return { h: gruStep(cell, xp, state.h, t) };
    default:
      return { h: tf.tanh(clipped(cell.spec, tf.add(xp, cell.products.recurrent(state.h, 0, 1)))) as tf.Tensor2D };
  }
}

/** Gate rows [from, to)'s pre-activations at step t: xp + h R[rows]ᵀ (under the reset gate: xp + r ⊙ (h R[rows]ᵀ + bias)). */
function preactivation(products: RecurrentProducts, xp: tf.Tensor2D, h: tf.Tensor2D, t: number, from: number, to: number, reset?: ResetGate): tf.Tensor2D {
  if (products.preactivation) return products.preactivation(xp, h, t, from, to, reset);
  const rp = products.recurrent(h, from, to);
  return tf.add(xp, reset ? tf.mul(reset.r, reset.bias ? tf.add(rp, reset.bias) : rp) : rp) as tf.Tensor2D;
}

/** Gate pre-activations clipped to [−clip, clip] when the node sets clip. */
function clipped(spec: RecurrentSpec, t: tf.Tensor): tf.Tensor {
  return spec.clip === undefined ? t : tf.clipByValue(t, -spec.clip, spec.clip);
}

function lstmStep(cell: RecurrentCell, xp: tf.Tensor2D, state: CellState, t: number): CellState {
  const { spec, peepholes: p, products } = cell;
  const cPrev = state.c!;
  const z = preactivation(products, xp, state.h, t, 0, 4);
  // Gate order i, o, f, c.
  const [iz, oz, fz, cz] = tf.split(z, 4, 1);
  const i = tf.sigmoid(clipped(spec, p ? tf.add(iz, tf.mul(p.i, cPrev)) : iz));
  const f = spec.inputForget ? tf.sub(1, i) : tf.sigmoid(clipped(spec, p ? tf.add(fz, tf.mul(p.f, cPrev)) : fz));
  const c = tf.add(tf.mul(f, cPrev), tf.mul(i, tf.tanh(clipped(spec, cz)))) as tf.Tensor2D;
  const o = tf.sigmoid(clipped(spec, p ? tf.add(oz, tf.mul(p.o, c)) : oz));
  return { h: tf.mul(o, tf.tanh(c)) as tf.Tensor2D, c };
}

function gruStep(cell: RecurrentCell, xp: tf.Tensor2D, hPrev: tf.Tensor2D, t: number): tf.Tensor2D {
  const { spec, products } = cell;
  const hidden = spec.hidden;
  // Gate order z, r, h.
  const [xzr, xh] = tf.split(xp, [2 * hidden, hidden], 1) as [tf.Tensor2D, tf.Tensor2D];
  const zr = tf.sigmoid(clipped(spec, preactivation(products, xzr, hPrev, t, 0, 2)));
  const [z, r] = tf.split(zr, 2, 1);
  const hz = spec.linearBeforeReset
    ? preactivation(products, xh, hPrev, t, 2, 3, { r, bias: cell.recurrentBias })
    : preactivation(products, xh, tf.mul(r, hPrev) as tf.Tensor2D, t, 2, 3);
  const hh = tf.tanh(clipped(spec, hz));
  // H = (1 − z) ⊙ h̃ + z ⊙ H_{t−1}
  return tf.add(tf.mul(tf.sub(1, z), hh), tf.mul(z, hPrev)) as tf.Tensor2D;
}
