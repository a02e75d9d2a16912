import type { HwActivation, HwRecurrentLayer } from '../../src/index.js';
import { activationCodes, splitCodes, type HwDescription } from './integer-evaluator.js';

/**
 * docs/hw-json.md's step 7, written from the document: a PGLSTM/QLSTM (PGGRU/QGRU) of the description run on the float values
 * its inputs name (X, and initial_h, initial_c, sequence_lens when they are graph values; constants come from the
 * file). Integer codes and Int32 accumulators per step (x_t's and h_{t-1}'s, each with its own unit), the float32
 * steps of the gate, then ONNX's LSTM (GRU) cell in float (sigmoid and tanh in float64, rounded to float32 after each op).
 */

/** Float values by name, with their shapes. */
export type Values = Record<string, { shape: number[]; data: Float32Array }>;

export interface RecurrentResult {
  /** Y in the layer's layout (layout 0: [T, D, N, H]), Y_h and Y_c ([D, N, H] or [N, D, H]). */
  y: Float32Array;
  yh: Float32Array;
  yc: Float32Array;
  /** The gate M (1: the low-order products added) [N, T, D, G·H], as pg observes it; all ones when quantized. */
  gate: Uint8Array;
  /** The statistic the gate compared with Δ (z_hb, |z_hb| or -|z_hb|) [N, T, D, G·H]. */
  statistic: Float32Array;
  /** Largest |accumulator| seen, to check the declared widths. */
  maxAbsInput: number;
  maxAbsState: number;
}

const f32 = Math.fround;
const sigmoid = (v: number) => f32(1 / (1 + Math.exp(-v)));
const tanh = (v: number) => f32(Math.tanh(v));

/** Integer accumulations of a code vector with one direction's codes [G·H, K]: Σ q_hb k and Σ q_lb k per row. */
function accumulate(hb: Int32Array, lb: Int32Array, k: Int32Array, offset: number, rows: number): { hb: Int32Array; lb: Int32Array; max: number } {
  const fanIn = hb.length;
  const accHb = new Int32Array(rows);
  const accLb = new Int32Array(rows);
  let max = 0;
  for (let g = 0; g < rows; g++) {
    let h = 0;
    let l = 0;
    const base = offset + g * fanIn;
    for (let i = 0; i < fanIn; i++) {
      h = (h + Math.imul(hb[i], k[base + i])) | 0;
      l = (l + Math.imul(lb[i], k[base + i])) | 0;
    }
    accHb[g] = h;
    accLb[g] = l;
    max = Math.max(max, Math.abs(h), Math.abs(l));
  }
  return { hb: accHb, lb: accLb, max };
}

/** c = f32(f32(s / n) * f32(s_w / n_w)): the float32 value of one accumulator unit of direction d. */
const unit = (scale: number, levels: number, ws: { scale: number[]; levels: number }, d: number) => f32(f32(scale / levels) * f32(ws.scale[d] / ws.levels));

/** One direction's fixed parts: its codes, units, bias and thresholds, and how the gate decides. */
interface Direction {
  H: number;
  /** h's quantizer (step 2 with its scale). */
  state: HwActivation;
  kR: Int32Array;
  /** Offset of this direction's R codes [G·H, H]. */
  rOffset: number;
  cx: number;
  ch: number;
  /** b (added to x's part) and, for a GRU with linear_before_reset, Rb_h (under the reset gate), of this direction. */
  bias?: number[];
  recurrentBias?: number[];
  delta?: number[];
  step: number;
  statistic: (z: number) => number;
  clip: (v: number) => number;
}

/** A step's x accumulations, and the gate's record of the step (statistic, M per gate row). */
interface StepRecord {
  ax: { hb: Int32Array; lb: Int32Array };
  gate: Uint8Array;
  statistic: Float32Array;
  maxAbsState: number;
}

/** h-side accumulations of rows [from, from + count) for a state vector v (h_{t-1}, or a GRU's r ⊙ h_{t-1}). */
function stateProducts(dir: Direction, v: Float32Array, from: number, count: number, rec: StepRecord) {
  const hs = splitCodes(activationCodes(v, { activation: dir.state }), dir.step);
  const ah = accumulate(hs.hb, hs.lb, dir.kR, dir.rOffset + from * dir.H, count);
  rec.maxAbsState = Math.max(rec.maxAbsState, ah.max);
  return ah;
}

/**
 * The gate of rows [from, from + count): z_hb from its two parts, M = g(z_hb) > Δ, z = z_hb (+ z_lb where M = 1), in
 * the order of docs/hw-json.md step 7. `underReset` (a GRU's hidden gate with linear_before_reset): h's part is
 * f32(r * f32(f32(acc_h_hb c_h) + Rb_h)) and its low part f32(r * f32(acc_h_lb c_h)).
 */
function gateRows(dir: Direction, rec: StepRecord, ah: { hb: Int32Array; lb: Int32Array }, from: number, count: number, underReset?: Float32Array): Float32Array {
  const z = new Float32Array(count);
  for (let j = 0; j < count; j++) {
    const g = from + j;
    const hHb = f32(ah.hb[j] * dir.ch);
    const hLb = f32(ah.lb[j] * dir.ch);
    const hPart = underReset ? f32(underReset[j] * f32(hHb + f32(dir.recurrentBias?.[j] ?? 0))) : hHb;
    const lowH = underReset ? f32(underReset[j] * hLb) : hLb;
    const zhb = f32(f32(f32(rec.ax.hb[g] * dir.cx) + f32(dir.bias?.[g] ?? 0)) + hPart);
    const s = dir.statistic(zhb);
    const m = dir.delta === undefined || s > dir.delta[g] ? 1 : 0;
    rec.gate[g] = m;
    rec.statistic[g] = s;
    z[j] = m ? f32(zhb + f32(f32(rec.ax.lb[g] * dir.cx) + lowH)) : zhb;
  }
  return z;
}

/**
 * Runs the layer. `teacher(d, t, b)`, when given, supplies h_{t-1} (as pg had it) for the gate and the products of
 * step t instead of the evaluator's own state: the gate decisions then depend on pg's state only, step by step.
 */
export function evaluateRecurrent(
  hw: HwDescription,
  layer: HwRecurrentLayer,
  values: Values,
  teacher?: (d: number, t: number, b: number) => Float32Array | undefined,
): RecurrentResult {
  const lstm = layer.op === 'LSTM';
  const [xName, , , , lensName, h0Name, c0Name, pName] = layer.inputs;
  const value = (name: string | undefined): Float32Array | undefined =>
    !name ? undefined : (values[name]?.data ?? (layer.params[name] ? Float32Array.from(hw.tensor(layer.params[name])) : undefined));
  const x = values[xName];
  const batchMajor = layer.layout === 1;
  const [steps, batch] = batchMajor ? [x.shape[1], x.shape[0]] : [x.shape[0], x.shape[1]];
  const F = layer.input_size;
  const H = layer.hidden_size;
  const rows = layer.gate_order.length * H;
  const D = layer.direction === 'bidirectional' ? 2 : 1;
  const lens = value(lensName);
  const h0 = value(h0Name);
  const c0 = lstm ? value(c0Name) : undefined;
  const peep = lstm ? value(pName) : undefined;
  const kW = Int32Array.from(hw.tensor(layer.weights.codes));
  const kR = Int32Array.from(hw.tensor(layer.recurrent_weights.codes));
  const bias = layer.bias ? hw.tensor(layer.bias.float) : undefined;
  const recurrentBias = layer.bias?.recurrent ? hw.tensor(layer.bias.recurrent) : undefined;
  const delta = layer.threshold ? hw.tensor(layer.threshold.float) : undefined;
  const step = layer.activation.step ?? 1;
  const statistic = (z: number) => (layer.gate_rule === 'magnitude' ? Math.abs(z) : layer.gate_rule === 'knee' ? -Math.abs(z) : z);
  const clip = (v: number) => (layer.clip === null ? v : Math.min(Math.max(v, -layer.clip), layer.clip));
  // Index of (t, d, b, j) in Y and of (d, b, j) in the states, for the layout.
  const yAt = (t: number, d: number, b: number) => (batchMajor ? ((b * steps + t) * D + d) * H : ((t * D + d) * batch + b) * H);
  const stateAt = (d: number, b: number) => (batchMajor ? (b * D + d) * H : (d * batch + b) * H);
  const xAt = (t: number, b: number) => (batchMajor ? (b * steps + t) * F : (t * batch + b) * F);
  const out: RecurrentResult = {
    y: new Float32Array(steps * D * batch * H),
    yh: new Float32Array(D * batch * H),
    yc: new Float32Array(lstm ? D * batch * H : 0),
    gate: new Uint8Array(batch * steps * D * rows),
    statistic: new Float32Array(batch * steps * D * rows),
    maxAbsInput: 0,
    maxAbsState: 0,
  };
  const part = (v: number[] | undefined, d: number, size: number) => v?.slice(d * size, (d + 1) * size);
  for (let d = 0; d < D; d++) {
    const reverse = layer.direction === 'reverse' || d === 1;
    const dir: Direction = {
      H,
      state: layer.state_activation,
      kR,
      rOffset: d * rows * H,
      cx: unit(layer.activation.scale, layer.activation.levels, layer.weights, d),
      ch: unit(layer.state_activation.scale, layer.state_activation.levels, layer.recurrent_weights, d),
      bias: part(bias, d, rows),
      recurrentBias: part(recurrentBias, d, H),
      delta: part(delta, d, rows),
      step,
      statistic,
      clip,
    };
    for (let b = 0; b < batch; b++) {
      const length = lens ? lens[b] : steps;
      let h: Float32Array = h0 ? h0.slice(stateAt(d, b), stateAt(d, b) + H) : new Float32Array(H);
      let c: Float32Array = c0 ? c0.slice(stateAt(d, b), stateAt(d, b) + H) : new Float32Array(H);
      for (let k = 0; k < steps; k++) {
        const t = reverse ? steps - 1 - k : k;
        const hPrev = teacher?.(d, t, b) ?? h;
        const xs = splitCodes(activationCodes(x.data.subarray(xAt(t, b), xAt(t, b) + F), layer), step);
        const ax = accumulate(xs.hb, xs.lb, kW, d * rows * F, rows);
        out.maxAbsInput = Math.max(out.maxAbsInput, ax.max);
        const rec: StepRecord = { ax, gate: new Uint8Array(rows), statistic: new Float32Array(rows), maxAbsState: 0 };
        let next: { h: Float32Array; c: Float32Array };
        if (lstm) {
          const z = gateRows(dir, rec, stateProducts(dir, hPrev, 0, rows, rec), 0, rows);
          next = lstmCell(z, c, H, clip, peep?.subarray(d * 3 * H, (d + 1) * 3 * H), layer.input_forget === 1);
        } else {
          next = { h: gruStep(dir, rec, hPrev, layer.linear_before_reset === 1), c };
        }
        out.maxAbsState = Math.max(out.maxAbsState, rec.maxAbsState);
        const at = ((b * steps + t) * D + d) * rows;
        out.gate.set(rec.gate, at);
        out.statistic.set(rec.statistic, at);
        if (t >= length) continue; // past the sequence's end: the state is kept and Y stays 0
        h = next.h;
        c = next.c;
        out.y.set(h, yAt(t, d, b));
      }
      // A sequence of length 0 ends with zero states (ONNX Runtime's behaviour, and pg's).
      if (length > 0) {
        out.yh.set(h, stateAt(d, b));
        if (lstm) out.yc.set(c, stateAt(d, b));
      }
    }
  }
  return out;
}

/** ONNX's LSTM cell (gate order i, o, f, c; default activations), float32 after every op. */
function lstmCell(
  z: Float32Array,
  cPrev: Float32Array,
  H: number,
  clip: (v: number) => number,
  p: Float32Array | undefined,
  inputForget: boolean,
): { h: Float32Array; c: Float32Array } {
  const h = new Float32Array(H);
  const c = new Float32Array(H);
  for (let j = 0; j < H; j++) {
    const i = sigmoid(clip(p ? f32(z[j] + f32(p[j] * cPrev[j])) : z[j]));
    const f = inputForget ? f32(1 - i) : sigmoid(clip(p ? f32(z[2 * H + j] + f32(p[2 * H + j] * cPrev[j])) : z[2 * H + j]));
    c[j] = f32(f32(f * cPrev[j]) + f32(i * tanh(clip(z[3 * H + j]))));
    const o = sigmoid(clip(p ? f32(z[H + j] + f32(p[H + j] * c[j])) : z[H + j]));
    h[j] = f32(o * tanh(c[j]));
  }
  return { h, c };
}

/**
 * ONNX's GRU step (gate order z, r, h) with the gate in two blocks: z and r first, then the hidden gate, whose
 * recurrent operand is r ⊙ h_{t-1} (quantized as h is), or, with linear_before_reset, h_{t-1} under r.
 */
function gruStep(dir: Direction, rec: StepRecord, hPrev: Float32Array, linearBeforeReset: boolean): Float32Array {
  const { H, clip } = dir;
  const zr = gateRows(dir, rec, stateProducts(dir, hPrev, 0, 2 * H, rec), 0, 2 * H).map((v) => sigmoid(clip(v)));
  const r = zr.subarray(H, 2 * H);
  const operand = linearBeforeReset ? hPrev : Float32Array.from(hPrev, (v, j) => f32(r[j] * v));
  const n = gateRows(dir, rec, stateProducts(dir, operand, 2 * H, H, rec), 2 * H, H, linearBeforeReset ? r : undefined);
  return Float32Array.from(n, (v, j) => f32(f32(f32(1 - zr[j]) * tanh(clip(v))) + f32(zr[j] * hPrev[j])));
}
