import * as tf from '@tensorflow/tfjs-core';
import { ONNX_OPS } from '../interpreter/ops/index.js';
import { plainProductsOf, recurrentForms, type ProductsOf, type RecurrentInputs, type RecurrentProducts } from '../interpreter/ops/recurrent.js';
import { OpRegistry } from '../interpreter/registry.js';
import { gate, type GateOptions } from './gate.js';
import { PG_OPS } from './kernels.js';
import { quantSplit, quantizeWeights } from './quantizer.js';

// Precision gating inside an LSTM (docs/method.md, "Recurrent layers"): at every time step the gate
// pre-activations z_t = W x_t + R h_{t−1} + b are first computed from the top B_hb bits of x_t and h_{t−1}
// (z_hb), and a gate per unit and step decides whether the products of their low bits (z_lb) are added.
// Every rule is written as M = 1[g(z_hb) > Δ] with a statistic g, so that calibration, the final threshold
// shift, the surrogate gradient and the sparsity counts treat a PGLSTM as they treat a gated conv.

/**
 * Which pre-activations get their low-order bits (M = 1), and the statistic g the gate compares with Δ:
 * - `above`: z_hb > Δ (g = z_hb), the rule of the paper's ReLU layers taken as it is;
 * - `magnitude`: |z_hb| > Δ (g = |z_hb|), the largest pre-activations in either direction;
 * - `knee`: |z_hb| < −Δ (g = −|z_hb|), the pre-activations near 0, where sigmoid and tanh are steep and a small
 *   error in z moves the gate's value most (a saturated gate hides it). The stored threshold is the negated bound.
 */
export const RECURRENT_GATE_RULES = ['above', 'magnitude', 'knee'] as const;
export type RecurrentGateRule = (typeof RECURRENT_GATE_RULES)[number];

/** pg's default rule: the best measured (docs/method.md, "Which rule"). */
export const DEFAULT_RECURRENT_GATE_RULE: RecurrentGateRule = 'knee';

export function isRecurrentGateRule(v: string): v is RecurrentGateRule {
  return (RECURRENT_GATE_RULES as readonly string[]).includes(v);
}

/** One gated LSTM node. */
export interface RecurrentGateLayer {
  /** Activation bits B and the high-order part B_hb. */
  bits: number;
  hbits: number;
  /** Weight bits (per-tensor symmetric, W and R of each direction on their own). */
  wbits: number;
  /** Static scale of the node's input x (calibrated: its largest magnitude on calibration data); a tensor trains. */
  inputScale: number | tf.Tensor;
  /** Static scale of h, 1: h = o ⊙ tanh(c) lies in (−1, 1) whatever the data. */
  stateScale: number;
  rule: RecurrentGateRule;
  /** Δ per direction and unit of z [D, 4·H], in the statistic's form; absent: every gate on (static B-bit activations). */
  delta?: tf.Tensor2D;
  /** While training: the surrogate gradient's settings (the gate is a hard step otherwise). */
  surrogate?: GateOptions;
  /** Sees z_hb and the gate M of every step (calibration and sparsity counts). */
  record?: (d: number, zhb: tf.Tensor2D, m: tf.Tensor2D, t: number) => void;
}

/** Gated LSTM nodes by node name; other LSTM nodes run as float. */
export type RecurrentGatePlan = ReadonlyMap<string, RecurrentGateLayer>;

/** What the gate compares with Δ: z_hb, |z_hb| or −|z_hb| (RecurrentGateRule). */
export function gateStatistic(rule: RecurrentGateRule, zhb: tf.Tensor): tf.Tensor {
  return rule === 'above' ? zhb : rule === 'magnitude' ? tf.abs(zhb) : tf.neg(tf.abs(zhb));
}

/** The gate M (1: add the low-order products) of the rule, as floats; Δ in the statistic's form. */
export function recurrentGate(rule: RecurrentGateRule, zhb: tf.Tensor, delta: tf.Tensor, surrogate?: GateOptions): tf.Tensor {
  const g = gateStatistic(rule, zhb);
  return surrogate ? gate(g, delta, surrogate) : tf.step(tf.sub(g, delta));
}

/** Direction d's products with quantized weights and activations split into high and low bits, gated per step. */
export function gatedLstmProducts(layer: RecurrentGateLayer, ins: RecurrentInputs, d: number): RecurrentProducts {
  const [steps, batch] = ins.x.shape;
  const slice = (w: tf.Tensor3D) => quantizeWeights(tf.squeeze(tf.slice(w, [d, 0, 0], [1, -1, -1]), [0]), layer.wbits);
  const wt = tf.transpose(slice(ins.w)) as tf.Tensor2D;
  const rt = tf.transpose(slice(ins.r)) as tf.Tensor2D;
  const sx = typeof layer.inputScale === 'number' ? tf.scalar(layer.inputScale) : layer.inputScale;
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
      const m = (delta ? recurrentGate(layer.rule, zhb, delta, layer.surrogate) : tf.onesLike(zhb)) as tf.Tensor2D;
      layer.record?.(d, zhb, m, t);
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
 * Δ per unit for a target sparsity (the share of pre-activations left at B_hb bits), in the statistic's form,
 * from z_hb samples of each unit (all gates on): the cut that leaves that share of the statistic at or below it,
 * halfway between two different samples so that no sample sits on Δ (where the last bit of a runtime's float
 * sum would decide its side). Equal samples (a step whose inputs are the same in every sequence, such as an
 * image's blank rows) fall on one side together: the cut moves to the nearer end of their run.
 */
export function calibrateRecurrentGate(rule: RecurrentGateRule, samples: readonly Float32Array[], sparsity: number): Float32Array {
  const statistic = (z: number) => (rule === 'above' ? z : rule === 'magnitude' ? Math.abs(z) : -Math.abs(z));
  return Float32Array.from(samples, (unit) => {
    const v = Float32Array.from(unit, statistic).sort();
    const k = tieFreeCut(v, Math.floor(sparsity * v.length));
    return k === 0 ? -Infinity : k >= v.length ? Infinity : (v[k - 1] + v[k]) / 2;
  });
}

/** The cut nearest k (samples [0, cut) at or below Δ) that does not split a run of equal sorted samples. */
function tieFreeCut(v: Float32Array, k: number): number {
  if (k === 0 || k >= v.length || v[k - 1] !== v[k]) return k;
  let lo = k - 1;
  while (lo > 0 && v[lo - 1] === v[k]) lo--;
  let hi = k;
  while (hi < v.length && v[hi] === v[k]) hi++;
  return k - lo <= hi - k ? lo : hi;
}
