import * as tf from '@tensorflow/tfjs-core';
import { ONNX_OPS } from '../interpreter/ops/index.js';
import { plainProductsOf, recurrentForms, type ProductsOf, type RecurrentInputs, type RecurrentProducts } from '../interpreter/ops/recurrent.js';
import { OpRegistry } from '../interpreter/registry.js';
import { PG_OPS } from './kernels.js';
import { quantSplit, quantizeWeights } from './quantizer.js';

// Precision gating inside an LSTM (docs/method.md, "Recurrent layers"): at every time step the gate
// pre-activations z_t = W x_t + R h_{t−1} + b are first computed from the top B_hb bits of x_t and h_{t−1}
// (z_hb), and a gate per unit and step decides whether the products of their low bits (z_lb) are added.
// This is the simulation the rule comparison measures (bench/recurrent-gate-rules.mjs); pg convert does not
// place it yet.

/**
 * Which pre-activations get their low-order bits (M = 1):
 * - `above`: z_hb > Δ, the rule of the paper's ReLU layers taken as it is;
 * - `magnitude`: |z_hb| > Δ, the largest pre-activations in either direction;
 * - `knee`: |z_hb| < Δ, the pre-activations near 0, where sigmoid and tanh are steep and a small error in z moves
 *   the gate's value most (a saturated gate hides it).
 */
export type RecurrentGateRule = 'above' | 'magnitude' | 'knee';

export const RECURRENT_GATE_RULES: readonly RecurrentGateRule[] = ['above', 'magnitude', 'knee'];

/** One gated LSTM node. */
export interface RecurrentGateLayer {
  /** Activation bits B and the high-order part B_hb. */
  bits: number;
  hbits: number;
  /** Weight bits (per-tensor symmetric, W and R of each direction on their own). */
  wbits: number;
  /** Static scale of the node's input x (calibrated: its largest magnitude on calibration data). */
  inputScale: number;
  /** Static scale of h, 1: h = o ⊙ tanh(c) lies in (−1, 1) whatever the data. */
  stateScale: number;
  rule: RecurrentGateRule;
  /** Δ per direction and unit of z [D, 4·H]; absent: every gate on (static B-bit activations). */
  delta?: tf.Tensor2D;
  /** Sees z_hb and the gate M of every step (calibration and sparsity counts). */
  record?: (d: number, zhb: tf.Tensor2D, m: tf.Tensor2D) => void;
}

/** Gated LSTM nodes by node name; other LSTM nodes run as float. */
export type RecurrentGatePlan = ReadonlyMap<string, RecurrentGateLayer>;

/** The gate M (1: add the low-order products) of the rule, as floats. */
export function recurrentGate(rule: RecurrentGateRule, zhb: tf.Tensor, delta: tf.Tensor): tf.Tensor {
  const on = rule === 'above' ? tf.greater(zhb, delta) : rule === 'magnitude' ? tf.greater(tf.abs(zhb), delta) : tf.less(tf.abs(zhb), delta);
  return tf.cast(on, 'float32');
}

/** Direction d's products with quantized weights and activations split into high and low bits, gated per step. */
export function gatedLstmProducts(layer: RecurrentGateLayer, ins: RecurrentInputs, d: number): RecurrentProducts {
  const [steps, batch] = ins.x.shape;
  const slice = (w: tf.Tensor3D) => quantizeWeights(tf.squeeze(tf.slice(w, [d, 0, 0], [1, -1, -1]), [0]), layer.wbits);
  const wt = tf.transpose(slice(ins.w)) as tf.Tensor2D;
  const rt = tf.transpose(slice(ins.r)) as tf.Tensor2D;
  const sx = tf.scalar(layer.inputScale);
  const sh = tf.scalar(layer.stateScale);
  const delta = layer.delta ? tf.squeeze(tf.slice(layer.delta, [d, 0], [1, -1]), [0]) : undefined;
  let lowSteps: tf.Tensor2D[] = [];
  return {
    input: (x) => {
      const { hb, lb } = quantSplit(x, sx, layer.bits, layer.hbits);
      lowSteps = tf.unstack(tf.reshape(tf.matMul(lb, wt), [steps, batch, -1])) as tf.Tensor2D[];
      return tf.matMul(hb, wt);
    },
    recurrent: (h, from, to) => {
      const { hb, lb } = quantSplit(h, sh, layer.bits, layer.hbits);
      const rows = tf.slice(rt, [0, from * (rt.shape[1] / 4)], [-1, ((to - from) * rt.shape[1]) / 4]);
      return tf.matMul(tf.add(hb, lb), rows);
    },
    preactivation: (xp, h, t) => {
      const { hb, lb } = quantSplit(h, sh, layer.bits, layer.hbits);
      const zhb = tf.add(xp, tf.matMul(hb, rt)) as tf.Tensor2D;
      const zlb = tf.add(lowSteps[t], tf.matMul(lb, rt));
      const m = (delta ? recurrentGate(layer.rule, zhb, delta) : tf.onesLike(zhb)) as tf.Tensor2D;
      layer.record?.(d, zhb, m);
      return tf.add(zhb, tf.mul(m, zlb)) as tf.Tensor2D;
    },
  };
}

/**
 * pg's ops with the plan's LSTM nodes gated (the others run as float): the registry an Executor takes to run a
 * model with gated recurrent layers.
 */
export function recurrentGateRegistry(plan: RecurrentGatePlan): OpRegistry {
  const productsOf: ProductsOf = (spec, ins, d, ctx) => {
    const layer = plan.get(ctx.node.name);
    return layer ? gatedLstmProducts(layer, ins, d) : plainProductsOf(spec, ins, d, ctx);
  };
  return new OpRegistry([...ONNX_OPS.filter((o) => o.op !== 'LSTM'), ...recurrentForms('LSTM', 'lstm', productsOf), ...PG_OPS]);
}

/**
 * Δ per unit for a target sparsity (the share of pre-activations left at B_hb bits), from z_hb samples of each
 * unit (all gates on): the quantile of z_hb or |z_hb| that leaves that share off under the rule, cut halfway
 * between two samples so that no sample sits on Δ (where float rounding would decide its side).
 */
export function calibrateRecurrentGate(rule: RecurrentGateRule, samples: readonly Float32Array[], sparsity: number): Float32Array {
  return Float32Array.from(samples, (unit) => {
    const v = rule === 'above' ? Float32Array.from(unit) : Float32Array.from(unit, Math.abs);
    v.sort();
    // The k smallest statistics fall below Δ: above/magnitude leave them off, knee turns them on.
    const k = Math.floor((rule === 'knee' ? 1 - sparsity : sparsity) * v.length);
    return k === 0 ? -Infinity : k >= v.length ? Infinity : (v[k - 1] + v[k]) / 2;
  });
}
