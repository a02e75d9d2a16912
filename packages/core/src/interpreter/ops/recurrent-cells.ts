import * as tf from '@tensorflow/tfjs-core';
import type { RecurrentProducts, RecurrentSpec } from './recurrent.js';

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
      return { h: gruStep(cell, xp, state.h) };
    default:
      return { h: tf.tanh(clipped(cell.spec, tf.add(xp, cell.products.recurrent(state.h, 0, 1)))) as tf.Tensor2D };
  }
}

/** Gate pre-activations clipped to [−clip, clip] when the node sets clip. */
function clipped(spec: RecurrentSpec, t: tf.Tensor): tf.Tensor {
  return spec.clip === undefined ? t : tf.clipByValue(t, -spec.clip, spec.clip);
}

function lstmStep(cell: RecurrentCell, xp: tf.Tensor2D, state: CellState, t: number): CellState {
  const { spec, peepholes: p, products } = cell;
  const cPrev = state.c!;
  const z = products.preactivation ? products.preactivation(xp, state.h, t) : tf.add(xp, products.recurrent(state.h, 0, 4));
  // Gate order i, o, f, c.
  const [iz, oz, fz, cz] = tf.split(z, 4, 1);
  const i = tf.sigmoid(clipped(spec, p ? tf.add(iz, tf.mul(p.i, cPrev)) : iz));
  const f = spec.inputForget ? tf.sub(1, i) : tf.sigmoid(clipped(spec, p ? tf.add(fz, tf.mul(p.f, cPrev)) : fz));
  const c = tf.add(tf.mul(f, cPrev), tf.mul(i, tf.tanh(clipped(spec, cz)))) as tf.Tensor2D;
  const o = tf.sigmoid(clipped(spec, p ? tf.add(oz, tf.mul(p.o, c)) : oz));
  return { h: tf.mul(o, tf.tanh(c)) as tf.Tensor2D, c };
}

function gruStep(cell: RecurrentCell, xp: tf.Tensor, hPrev: tf.Tensor2D): tf.Tensor2D {
  const { spec, products } = cell;
  const hidden = spec.hidden;
  // Gate order z, r, h.
  const [xzr, xh] = tf.split(xp, [2 * hidden, hidden], 1);
  let zr: tf.Tensor;
  let hz: tf.Tensor;
  if (spec.linearBeforeReset) {
    const all = products.recurrent(hPrev, 0, 3);
    const [rzr, rh] = tf.split(all, [2 * hidden, hidden], 1);
    zr = tf.sigmoid(clipped(spec, tf.add(xzr, rzr)));
    const [, r] = tf.split(zr, 2, 1);
    hz = tf.add(xh, tf.mul(r, cell.recurrentBias ? tf.add(rh, cell.recurrentBias) : rh));
  } else {
    zr = tf.sigmoid(clipped(spec, tf.add(xzr, products.recurrent(hPrev, 0, 2))));
    const [, r] = tf.split(zr, 2, 1);
    hz = tf.add(xh, products.recurrent(tf.mul(r, hPrev) as tf.Tensor2D, 2, 3));
  }
  const [z] = tf.split(zr, 2, 1);
  const hh = tf.tanh(clipped(spec, hz));
  // H = (1 − z) ⊙ h̃ + z ⊙ H_{t−1}
  return tf.add(tf.mul(tf.sub(1, z), hh), tf.mul(z, hPrev)) as tf.Tensor2D;
}
