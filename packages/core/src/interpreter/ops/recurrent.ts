import * as tf from '@tensorflow/tfjs-core';
import type { Node } from '../../graph/index.js';
import { attrFloat, attrInt, attrString, attrStrings } from '../attributes.js';
import type { Kernel, KernelContext } from '../kernel.js';
import type { OpDeclaration } from '../op-declaration.js';
import { plain, toLogical, type RtValue } from '../value.js';
import { input, malformed, unsupported, wantsOutput } from './common.js';
import { nativeLstmDirection } from '../native/index.js';
import { matMulTrainable } from './matmul-trainable.js';
import { unchanged } from './upgrades.js';
import { recurrentStep, type CellState, type RecurrentCell } from './recurrent-cells.js';

// ONNX's recurrent layers (RNN, GRU, LSTM): one layer, forward, reverse or bidirectional, over a padded batch
// of sequences. The input products of all steps are one matrix product; the recurrence runs step by step.
// What multiplies is pluggable (RecurrentProducts) so that pg's gated recurrent layers run the same recurrence.

export type RecurrentKind = 'rnn' | 'gru' | 'lstm';

/** Gate rows per kind (G in the [G·H, ·] weights): RNN 1, GRU 3 (z, r, h), LSTM 4 (i, o, f, c). */
export const GATE_COUNT: Record<RecurrentKind, number> = { rnn: 1, gru: 3, lstm: 4 };

/** The activations ONNX applies by default, the only ones pg runs (per direction, in attribute order). */
const DEFAULT_ACTIVATIONS: Record<RecurrentKind, string[]> = { rnn: ['Tanh'], gru: ['Sigmoid', 'Tanh'], lstm: ['Sigmoid', 'Tanh', 'Tanh'] };

/** A recurrent node's attributes, checked. */
export interface RecurrentSpec {
  kind: RecurrentKind;
  hidden: number;
  /** One entry per direction, in the order of the D axis. */
  directions: ('forward' | 'reverse')[];
  /** 0: X [T, N, F], Y [T, D, N, H], states [D, N, H]; 1: X [N, T, F], Y [N, T, D, H], states [N, D, H]. */
  layout: 0 | 1;
  /** Gate pre-activations are clipped to [−clip, clip] when set. */
  clip?: number;
  /** LSTM: the forget gate is 1 − the input gate. */
  inputForget: boolean;
  /** GRU: the hidden gate's recurrent product (and its bias) is computed before the reset gate multiplies it. */
  linearBeforeReset: boolean;
}

/**
 * The matrix products of one direction: pg's gated layers replace them (the gate decisions are per time step).
 * Weights are ONNX's, of this direction: W [G·H, F], R [G·H, H].
 */
export interface RecurrentProducts {
  /** x W^T for every step at once: [T·N, G·H] from [T·N, F]. */
  input(x: tf.Tensor2D): tf.Tensor2D;
  /** h R[rows]^T: [N, (to − from)·H] for the gate rows [from, to) of R (LSTM 0..4; GRU z, r 0..2 and h 2..3). */
  recurrent(h: tf.Tensor2D, from: number, to: number): tf.Tensor2D;
  /** Rᵀ [H, G·H] when `recurrent` is the plain product h·Rᵀ (so the addon may run the recurrence itself). */
  recurrentTransposed?: tf.Tensor2D;
  /**
   * Step t's pre-activations of the gate rows [from, to) [N, (to − from)·H] from their input product xp (biases
   * added) and h, in place of xp + recurrent(h, from, to); with `reset` (GRU's hidden gate with linear_before_reset)
   * the recurrent product is r ⊙ (h R[rows]ᵀ + bias). pg's gated layers decide per step and unit which low-order
   * products to add.
   */
  preactivation?(xp: tf.Tensor2D, h: tf.Tensor2D, t: number, from: number, to: number, reset?: ResetGate): tf.Tensor2D;
}

/** GRU with linear_before_reset: the reset gate r and the recurrent bias Rb_h its hidden gate's product is taken under. */
export interface ResetGate {
  r: tf.Tensor;
  bias?: tf.Tensor1D;
}

export function recurrentSpec(kind: RecurrentKind, node: Node, form: 7 | 14, recurrenceWeight: tf.Tensor): RecurrentSpec {
  const direction = attrString(node, 'direction', 'forward');
  const directions: RecurrentSpec['directions'] | undefined =
    direction === 'forward' ? ['forward'] : direction === 'reverse' ? ['reverse'] : direction === 'bidirectional' ? ['forward', 'reverse'] : undefined;
  if (!directions) throw malformed(node, `direction '${direction}' is none of forward, reverse, bidirectional`);
  const [d, gh, h] = recurrenceWeight.shape;
  const hidden = attrInt(node, 'hidden_size') ?? h;
  if (recurrenceWeight.rank !== 3 || d !== directions.length || gh !== GATE_COUNT[kind] * hidden || h !== hidden) {
    throw malformed(
      node,
      `R has shape [${recurrenceWeight.shape.join(', ')}], expected [${directions.length}, ${GATE_COUNT[kind] * hidden}, ${hidden}] (direction '${direction}', hidden_size ${hidden})`,
    );
  }
  const activations = attrStrings(node, 'activations');
  const expected = directions.flatMap(() => DEFAULT_ACTIVATIONS[kind]);
  if (activations && activations.join() !== expected.join()) {
    throw unsupported(node, `activations [${activations.join(', ')}]: pg runs only ONNX's default ones, [${expected.join(', ')}]`);
  }
  const layout = form === 14 ? attrInt(node, 'layout', 0) : 0;
  if (layout !== 0 && layout !== 1) throw malformed(node, `layout ${layout} is neither 0 nor 1`);
  const clip = attrFloat(node, 'clip');
  if (clip !== undefined && !(clip > 0)) throw malformed(node, `clip ${clip} is not positive`);
  return {
    kind,
    hidden,
    directions,
    layout,
    clip,
    inputForget: kind === 'lstm' && attrInt(node, 'input_forget', 0) !== 0,
    linearBeforeReset: kind === 'gru' && attrInt(node, 'linear_before_reset', 0) !== 0,
  };
}

/** The node's inputs, in the logical layout 0 ([T, N, F] and [D, N, H]), with those that are absent left undefined. */
export interface RecurrentInputs {
  x: tf.Tensor3D;
  w: tf.Tensor3D;
  r: tf.Tensor3D;
  b?: tf.Tensor2D;
  /** Per batch entry; undefined when absent or when every sequence is T steps long. */
  lengths?: tf.Tensor1D;
  h0?: tf.Tensor3D;
  c0?: tf.Tensor3D;
  p?: tf.Tensor2D;
}

export function recurrentInputs(spec: RecurrentSpec, inputs: (RtValue | undefined)[], ctx: KernelContext): RecurrentInputs {
  const { node } = ctx;
  const opt = (i: number) => (inputs[i] ? toLogical(inputs[i]!) : undefined);
  const batchMajor = spec.layout === 1;
  const state = (i: number) => {
    const t = opt(i);
    return t && batchMajor ? (tf.transpose(t, [1, 0, 2]) as tf.Tensor3D) : (t as tf.Tensor3D | undefined);
  };
  let x = toLogical(input(node, inputs, 0)) as tf.Tensor3D;
  if (x.rank !== 3) throw malformed(node, `X has rank ${x.rank}, expected 3`);
  if (batchMajor) x = tf.transpose(x, [1, 0, 2]);
  const w = toLogical(input(node, inputs, 1)) as tf.Tensor3D;
  const r = toLogical(input(node, inputs, 2)) as tf.Tensor3D;
  const [steps, batch, features] = x.shape;
  const directions = spec.directions.length;
  const gh = GATE_COUNT[spec.kind] * spec.hidden;
  const check = (name: string, t: tf.Tensor | undefined, shape: number[]) => {
    if (t && t.shape.join() !== shape.join()) throw malformed(node, `${name} has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`);
  };
  check('W', w, [directions, gh, features]);
  const b = opt(3) as tf.Tensor2D | undefined;
  check('B', b, [directions, 2 * gh]);
  const h0 = state(5);
  const c0 = spec.kind === 'lstm' ? state(6) : undefined;
  check('initial_h', h0, [directions, batch, spec.hidden]);
  check('initial_c', c0, [directions, batch, spec.hidden]);
  const p = spec.kind === 'lstm' ? (opt(7) as tf.Tensor2D | undefined) : undefined;
  check('P', p, [directions, 3 * spec.hidden]);
  return { x, w, r, b, lengths: sequenceLengths(inputs[4], ctx, steps, batch), h0, c0, p };
}

/** sequence_lens as a tensor, checked against T, or undefined when every sequence has all T steps. */
function sequenceLengths(v: RtValue | undefined, ctx: KernelContext, steps: number, batch: number): tf.Tensor1D | undefined {
  if (!v) return undefined;
  const { node } = ctx;
  const lengths = ctx.readInts(4) ?? [];
  if (lengths.length !== batch) throw malformed(node, `sequence_lens has ${lengths.length} entries for a batch of ${batch}`);
  const bad = lengths.findIndex((l) => !Number.isInteger(l) || l < 0 || l > steps);
  if (bad >= 0) throw malformed(node, `sequence_lens[${bad}] is ${lengths[bad]}, outside 0..${steps} (the sequence length of X)`);
  return lengths.every((l) => l === steps) ? undefined : tf.tensor1d(lengths, 'int32');
}

/**
 * The standard products of direction `d`: matrix products with ONNX's weights. While training they are
 * matMulTrainable's (no transposed operand in the backward pass, which is most of a step's time on wasm).
 */
export function plainProducts(w: tf.Tensor3D, r: tf.Tensor3D, d: number, hidden: number, training: boolean): RecurrentProducts {
  const wd = tf.squeeze(tf.slice(w, [d, 0, 0], [1, -1, -1]), [0]) as tf.Tensor2D;
  const rd = tf.squeeze(tf.slice(r, [d, 0, 0], [1, -1, -1]), [0]) as tf.Tensor2D;
  const wt = tf.transpose(wd) as tf.Tensor2D;
  const rt = tf.transpose(rd) as tf.Tensor2D;
  const rows = new Map<string, [tf.Tensor2D, tf.Tensor2D]>();
  // R's gate rows [from, to) as (R[rows]ᵀ, R[rows]).
  const rowsOf = (from: number, to: number): [tf.Tensor2D, tf.Tensor2D] => {
    const key = `${from}:${to}`;
    let t = rows.get(key);
    if (!t) {
      const whole = from === 0 && to * hidden === rt.shape[1];
      t = whole
        ? [rt, rd]
        : [tf.slice(rt, [0, from * hidden], [-1, (to - from) * hidden]) as tf.Tensor2D, tf.slice(rd, [from * hidden, 0], [(to - from) * hidden, -1]) as tf.Tensor2D];
      rows.set(key, t);
    }
    return t;
  };
  const product = (a: tf.Tensor2D, b: tf.Tensor2D, bT: tf.Tensor2D): tf.Tensor2D => (training ? matMulTrainable(a, b, bT) : tf.matMul(a, b));
  return {
    recurrentTransposed: rt,
    input: (x) => product(x, wt, wd),
    recurrent: (h, from, to) => {
      const [b, bT] = rowsOf(from, to);
      return product(h, b, bT);
    },
  };
}

/** Outputs Y, Y_h (and Y_c) in the node's layout, from each direction's steps and final states. */
export interface RecurrentResult {
  y?: tf.Tensor;
  yh: tf.Tensor;
  yc?: tf.Tensor;
}

/**
 * Runs every direction of a recurrent node with the given products (the standard matrix products, or pg's
 * gated ones) and assembles the outputs in the node's layout. `wantY`: whether Y is asked for (its stack is
 * skipped otherwise).
 */
export function runRecurrent(spec: RecurrentSpec, ins: RecurrentInputs, products: (d: number) => RecurrentProducts, wantY: boolean): RecurrentResult {
  const [steps, batch, features] = ins.x.shape;
  const flatX = tf.reshape(ins.x, [steps * batch, features]) as tf.Tensor2D;
  const masks = ins.lengths ? stepMasks(ins.lengths, steps) : undefined;
  const ys: tf.Tensor[] = [];
  const yhs: tf.Tensor[] = [];
  const ycs: tf.Tensor[] = [];
  spec.directions.forEach((dir, d) => {
    const out = runDirection(spec, ins, products(d), d, dir === 'reverse', flatX, masks);
    if (wantY) ys.push(out.y);
    // A sequence of length 0 ends with zero states, not its initial ones (ONNX Runtime's behaviour).
    const ran = (t: tf.Tensor) => (ins.lengths ? tf.mul(t, tf.cast(tf.greater(tf.reshape(ins.lengths, [-1, 1]), 0), 'float32')) : t);
    yhs.push(ran(out.h));
    if (out.c) ycs.push(ran(out.c));
  });
  return assemble(spec, ys, yhs, ycs, wantY);
}

type StepMasks = ReturnType<typeof stepMasks>;

/** One direction: its outputs by time [T, N, H] and its final states. */
function runDirection(
  spec: RecurrentSpec,
  ins: RecurrentInputs,
  prod: RecurrentProducts,
  d: number,
  reverse: boolean,
  flatX: tf.Tensor2D,
  masks?: StepMasks,
): { y: tf.Tensor; h: tf.Tensor2D; c?: tf.Tensor2D } {
  const [steps, batch] = ins.x.shape;
  const gh = GATE_COUNT[spec.kind] * spec.hidden;
  const bias = ins.b ? directionBias(spec, ins.b, d) : undefined;
  let xp = prod.input(flatX);
  if (bias?.input) xp = tf.add(xp, bias.input);
  const vec = (t: tf.Tensor | undefined) => (t ? (tf.squeeze(tf.slice(t, [d, 0, 0], [1, -1, -1]), [0]) as tf.Tensor2D) : (tf.zeros([batch, spec.hidden]) as tf.Tensor2D));
  const h0 = vec(ins.h0);
  const c0 = spec.kind === 'lstm' ? vec(ins.c0) : undefined;
  const xp3 = tf.reshape(xp, [steps, batch, gh]) as tf.Tensor3D;
  // A plain LSTM runs its whole recurrence in the addon when it is on (one call each way instead of ~40 kernels a step).
  const plainLstm = spec.kind === 'lstm' && prod.recurrentTransposed && spec.clip === undefined && !spec.inputForget && !ins.p && !masks;
  const native = plainLstm ? nativeLstmDirection(xp3, prod.recurrentTransposed!, h0, c0!, reverse) : undefined;
  if (native) return { y: native.y, h: tf.reshape(tf.slice(native.y, [reverse ? 0 : steps - 1, 0, 0], [1, batch, spec.hidden]), [batch, spec.hidden]) as tf.Tensor2D, c: native.c };
  const xs = tf.unstack(xp3);
  let state: CellState = { h: h0, c: c0 };
  const cell: RecurrentCell = { spec, products: prod, recurrentBias: bias?.recurrent, peepholes: ins.p ? peepholes(ins.p, d, spec.hidden) : undefined };
  const out: tf.Tensor[] = new Array<tf.Tensor>(steps);
  for (let k = 0; k < steps; k++) {
    const t = reverse ? steps - 1 - k : k;
    const next = recurrentStep(cell, xs[t] as tf.Tensor2D, state, t);
    if (masks) {
      // Past its length a sequence keeps its state and outputs zeros (ONNX Runtime's behaviour).
      const m = masks[t];
      state = { h: tf.where(m.bool, next.h, state.h), c: next.c && state.c ? tf.where(m.bool, next.c, state.c) : next.c };
      out[t] = tf.mul(next.h, m.float);
    } else {
      state = next;
      out[t] = next.h;
    }
  }
  return { y: tf.stack(out), h: state.h, c: state.c };
}

function assemble(spec: RecurrentSpec, ys: tf.Tensor[], yhs: tf.Tensor[], ycs: tf.Tensor[], wantY: boolean): RecurrentResult {
  const batchMajor = spec.layout === 1;
  // Y: [T, D, N, H] (layout 0) or [N, T, D, H] (layout 1); the states [D, N, H] or [N, D, H].
  const y = wantY ? tf.stack(ys, batchMajor ? 2 : 1) : undefined;
  const states = (ts: tf.Tensor[]) => tf.stack(ts, batchMajor ? 1 : 0);
  return {
    y: y && batchMajor ? tf.transpose(y, [1, 0, 2, 3]) : y,
    yh: states(yhs),
    yc: ycs.length ? states(ycs) : undefined,
  };
}

/** Per step t, which batch entries are still inside their sequence (t < length), [N, 1]: as booleans and as floats. */
function stepMasks(lengths: tf.Tensor1D, steps: number): { bool: tf.Tensor2D; float: tf.Tensor2D }[] {
  const inside = tf.expandDims(tf.less(tf.reshape(tf.range(0, steps, 1, 'int32'), [steps, 1]), tf.reshape(lengths, [1, -1])), 2);
  const bools = tf.unstack(inside) as tf.Tensor2D[];
  const floats = tf.unstack(tf.cast(inside, 'float32')) as tf.Tensor2D[];
  return bools.map((b, t) => ({ bool: b, float: floats[t] }));
}

/**
 * Direction d's biases split by where they are added: with the input products (Wb, and Rb where it simply adds),
 * or inside the recurrence (a GRU with linear_before_reset keeps Rb_h under the reset gate).
 */
function directionBias(spec: RecurrentSpec, b: tf.Tensor2D, d: number): { input: tf.Tensor1D; recurrent?: tf.Tensor1D } {
  const gh = GATE_COUNT[spec.kind] * spec.hidden;
  const row = tf.squeeze(tf.slice(b, [d, 0], [1, -1]), [0]);
  const wb = tf.slice(row, [0], [gh]) as tf.Tensor1D;
  const rb = tf.slice(row, [gh], [gh]) as tf.Tensor1D;
  if (!spec.linearBeforeReset) return { input: tf.add(wb, rb) };
  const zr = 2 * spec.hidden;
  return { input: tf.add(wb, tf.concat([tf.slice(rb, [0], [zr]), tf.zeros([spec.hidden])])), recurrent: tf.slice(rb, [zr], [spec.hidden]) as tf.Tensor1D };
}

function peepholes(p: tf.Tensor2D, d: number, hidden: number): { i: tf.Tensor1D; o: tf.Tensor1D; f: tf.Tensor1D } {
  const row = tf.squeeze(tf.slice(p, [d, 0], [1, -1]), [0]);
  const part = (k: number) => tf.slice(row, [k * hidden], [hidden]) as tf.Tensor1D;
  return { i: part(0), o: part(1), f: part(2) };
}

/** The products direction d of a node multiplies with: the plain ones, or pg's gated ones. */
export type ProductsOf = (spec: RecurrentSpec, ins: RecurrentInputs, d: number, ctx: KernelContext) => RecurrentProducts;

export const plainProductsOf: ProductsOf = (spec, ins, d, ctx) => plainProducts(ins.w, ins.r, d, spec.hidden, ctx.training);

/** The kernel of a recurrent op with the given products (pg's gated LSTM runs it with its own). */
export const recurrentKernel =
  (kind: RecurrentKind, form: 7 | 14, productsOf: ProductsOf): Kernel =>
  (inputs, ctx) => {
    const { node } = ctx;
    const spec = recurrentSpec(kind, node, form, toLogical(input(node, inputs, 2)));
    const ins = recurrentInputs(spec, inputs, ctx);
    const wantY = wantsOutput(node, 0);
    const res = runRecurrent(spec, ins, (d) => productsOf(spec, ins, d, ctx), wantY);
    const outs = [res.y, res.yh, res.yc];
    return node.outputs.map((_, i) => plain(outs[i] ?? tf.zeros([0])));
  };

/** An ONNX recurrent op's forms, its products given (pg's gated LSTM declares LSTM with its own). */
export function recurrentForms(op: string, kind: RecurrentKind, productsOf: ProductsOf = plainProductsOf): OpDeclaration[] {
  // Before 7 the ops had an `output_sequence` attribute; ONNX Runtime runs them from 7, and so does pg.
  // 14 added `layout` (batch-major X, Y and states).
  return [
    { op, since: 7, cost: 'layer', kernel: recurrentKernel(kind, 7, productsOf) },
    { op, since: 14, cost: 'layer', kernel: recurrentKernel(kind, 14, productsOf), upgrade: unchanged },
  ];
}

export const RECURRENT_OPS: readonly OpDeclaration[] = [...recurrentForms('RNN', 'rnn'), ...recurrentForms('GRU', 'gru'), ...recurrentForms('LSTM', 'lstm')];
