import * as tf from '@tensorflow/tfjs-core';
import { customGrad } from '../interpreter/custom-grad.js';
import type { FusedTail } from '../interpreter/kernel.js';
import { channelSum } from '../interpreter/ops/channel-sum.js';
import { conv2dFilterBiasGrad, conv2dFilterGrad, conv2dInputGrad, type Conv2dGeometry } from '../interpreter/ops/conv2d-trainable.js';
import { hwioShape, nativeConvOnnxWeights, type WeightLayout } from '../interpreter/native/index.js';
import { nativeGateBackward, nativeGateForward, nativeQuantBackward, nativeQuantSplit, type GateForward, type GateGradient, type GateGradients } from './native/ops.js';
import { levels } from './quantizer.js';

export interface FusedPgConvOptions {
  bits: number;
  hbits: number;
  /** Slope α of the gate's sigmoid surrogate. */
  alpha: number;
  sparseBackprop: boolean;
  /** false: the weights are frozen; their gradient is not computed (zeros). */
  filterGrad: boolean;
  /** false: `s` is a dynamic scale (no gradient through it, docs/method.md). */
  scaleGrad: boolean;
  geometry: Conv2dGeometry;
  /**
   * The filter's layout: tfjs's [kh, kw, cin, cout] (default) or ONNX's [cout, cin, kh, kw], which only the
   * native kernels take (no per-step transpose; the caller checks onnxLayoutTrainable).
   */
  weightLayout?: WeightLayout;
  /** Also return the gate M as a differentiable tensor (an observer wants it). */
  wantGate?: boolean;
  /**
   * The caller uses `fraction` (the sparsity budget): its gradient reaches M. Without it the fraction's gradient
   * is not read, as when nothing reads the gate.
   */
  wantFraction?: boolean;
  /**
   * The nodes after the layer the executor runs inside it (KernelContext.tail): y is then ReLU(O), or
   * ReLU(O + offset) (the residual Add of the gate offset, then the ReLU), and their backward is part of the gate's.
   */
  tail?: FusedTail;
}

/** A fused gated layer's training results (the conv's, or a MatMul's in its own layout). */
export interface FusedGate {
  /** O = O_hb + M ⊙ (W * x_lb), or with a tail ReLU(O) or ReLU(O + offset). */
  y: tf.Tensor;
  /** The gate M, differentiable through the sigmoid surrogate; with wantGate only. */
  gate?: tf.Tensor;
  /** ΣM / size, the value tf.mean(M) gives, differentiable as the mean of `gate` (the sparsity budget's). */
  fraction: tf.Tensor;
  /** [ΣM, size] (float32, no gradient): the reported sparsity's. */
  counts: tf.Tensor;
}

export interface FusedPgConvResult extends FusedGate {
  /** NHWC. */
  y: tf.Tensor4D;
  gate?: tf.Tensor4D;
}

/**
 * The training path of a gated conv (PGConv, group 1; PGResidualConv with its gate offset) as one
 * differentiable op with a hand-written backward pass. Autodiff through quantSplit + two convs + gate computes what the layer needs several
 * times over: it back-propagates through both convolutions to the input although the straight-through
 * estimators cancel the low-bit branch's share exactly (d x_lb / dx = 0), and it runs a dozen small
 * element-wise gradient ops per quantizer. Here:
 *   forward   x_hb, x_lb (same ops as quantSplit, so bit-identical), O_hb = W * x_hb + b, O_lb = W * x_lb,
 *             M = 1[O_hb > Δ] (1[O_hb + offset > Δ] with a gate offset), O = O_hb + M ⊙ O_lb
 *             (identical to the unfused kernel),
 *   backward  dz = (dO ⊙ O_lb + dM) ⊙ α σ(αz)(1 - σ(αz)) (⊙ M with sparse back-prop), z = O_hb (+ offset) - Δ,
 *             dO_hb = dO + dz, dO_lb = dO ⊙ M, dΔ = -Σ dz, d offset = dz, db = Σ dO_hb,
 *             dW = W-grad(x_hb, dO_hb) + W-grad(x_lb, dO_lb),
 *             dx = 1[|x/s| ≤ 1] ⊙ convᵀ(dO_hb)           (one input-gradient conv, not two),
 *             ds = Σ g_hb ⊙ (x_hb/s - 1[|x/s| ≤ 1] x/s) + <dO_lb, O_lb>/s, g_hb = convᵀ(dO_hb):
 *             the low branch's share Σ g_lb ⊙ x_lb/s equals <dO_lb, W * x_lb>/s (the adjoint identity
 *             <convᵀ(d), v> = <d, conv(v)>), so the second input-gradient conv is not needed for s either.
 * These are exactly the gradients autodiff gives through the unfused ops (tests compare them).
 * With a tail (the executor's, while training) the forward writes ReLU(O) or ReLU(O + offset) in the same pass and
 * the backward starts from dO = dy ⊙ step(y) (the ReLU's); with the Add, the offset's gradient is the Add's dO plus
 * the gate's dz, which is dO_hb: the same float32 additions the unfused graph makes, so the same bits.
 * The op's own output is the fraction ΣM/size (a scalar), and y an op on it: tfjs's custom ops have one output,
 * and an op hanging off y would have to return a gradient of y's shape (zeros, then added to y's: two passes
 * over y per layer and step). The fraction's gradient reaches M as one value for every element (the mean's).
 */
// eslint-disable-next-line max-lines-per-function -- the forward and its hand-written backward share the saved tensors in one customGrad closure.
export function fusedPgConv(
  x: tf.Tensor4D,
  w: tf.Tensor4D,
  bias: tf.Tensor | undefined,
  delta: tf.Tensor,
  s: tf.Tensor,
  opts: FusedPgConvOptions,
  offset?: tf.Tensor4D,
): FusedPgConvResult {
  const g = opts.geometry;
  const [pt, pb, pl, pr] = g.pads;
  const pad: [[number, number], [number, number], [number, number], [number, number]] = [
    [0, 0],
    [pt, pb],
    [pl, pr],
    [0, 0],
  ];
  const n = levels(opts.bits);
  const step = 2 ** (opts.bits - opts.hbits);
  const layout = opts.weightLayout ?? 'hwio';
  const b = bias ?? tf.zeros([hwioShape(w.shape, layout)[3]]);
  const conv = (xi: tf.Tensor4D, wi: tf.Tensor4D, bi?: tf.Tensor): tf.Tensor4D => {
    if (layout === 'hwio') return tf.fused.conv2d({ x: xi, filter: wi, strides: g.strides, pad, dataFormat: 'NHWC', dilations: g.dilations, bias: bi });
    const y = nativeConvOnnxWeights(xi, wi, g, 1, bi);
    if (!y) throw new Error('internal: fusedPgConv got an ONNX-layout filter the native kernels do not take');
    return y;
  };
  const wantGate = opts.wantGate === true;
  const forward = (xi: tf.Tensor, wi: tf.Tensor4D, bi: tf.Tensor, di: tf.Tensor, si: tf.Tensor, oi: tf.Tensor | undefined) => {
    // One native pass when the addon is on (bit-identical), else the composed ops.
    const { r, hb, lb } = nativeQuantSplit(xi, si, opts.bits, opts.hbits) ?? composedQuantSplit(xi, si, n, step);
    const ohb = conv(hb as tf.Tensor4D, wi, bias ? bi : undefined);
    const olb = conv(lb as tf.Tensor4D, wi);
    const gf = nativeGateForward(ohb, olb, di, oi, wantGate, opts.tail) ?? composedGateForward(ohb, olb, di, oi, opts.tail);
    return { r, hb: hb as tf.Tensor4D, lb: lb as tf.Tensor4D, olb, ...gf, y: gf.y as tf.Tensor4D };
  };
  // Without a tape recording there is no backward: plain ops.
  if (!tf.engine().isTapeOn()) {
    const f = forward(x, w, b, delta, s, offset);
    return { y: f.y, gate: wantGate ? (f.m as tf.Tensor4D) : undefined, fraction: f.fraction, counts: f.counts };
  }
  // What the backward needs is kept (tfjs's save would copy every tensor) and freed by the backward, or
  // by releaseFusedState when no gradient asked for it.
  let kept: Kept | undefined;
  // The gradients reaching y and M, handed over by the ops below (their backward runs before the layer's).
  let dOut: tf.Tensor | undefined;
  let dGate: tf.Tensor | undefined;
  // The gate offset is a sixth input when there is one (its gradient is dz).
  const layer = customGrad<[tf.Tensor4D, tf.Tensor4D, tf.Tensor, tf.Tensor, tf.Tensor, ...tf.Tensor[]]>(([xi, wi, bi, di, si, ...more]) => {
    const oi: tf.Tensor | undefined = more[0];
    const f = forward(xi, wi, bi, di, si, oi);
    // The inputs may be intermediates of the forward pass (freed before the backward runs): the small
    // ones are copied, the activation itself is not needed.
    kept = {
      r: tf.keep(f.r),
      hb: tf.keep(f.hb),
      lb: tf.keep(f.lb),
      olb: tf.keep(f.olb),
      z: tf.keep(f.z),
      m: f.m && tf.keep(f.m),
      y: tf.keep(f.y),
      // The ReLU's backward reads the output (a second handle on the same data).
      out: opts.tail ? tf.keep(tf.clone(f.y)) : undefined,
      counts: tf.keep(f.counts),
      w: tf.keep(tf.clone(wi)),
      s: tf.keep(tf.clone(si)),
    };
    pending.add(kept);
    return {
      value: f.fraction,
      gradFunc: (dFraction) => {
        if (!kept) throw new Error('fusedPgConv: backward without a recorded forward');
        const { r: rs, hb: hbs, lb: lbs, olb: olbs, z: zs, w: wk, s: sk } = kept;
        // With the residual Add inside, the offset's gradient is dO_hb, not dz alone.
        const addInside = opts.tail === 'add-relu';
        const wantDz = oi !== undefined && !addInside;
        const dy = dOut ?? tf.zerosLike(zs);
        const dm = gateGradient(dGate, opts.wantFraction ? tf.div(dFraction, zs.size) : undefined);
        const out = kept.out;
        const gb =
          nativeGateBackward(dy, olbs, zs, dm, di, opts.alpha, opts.sparseBackprop, wantDz, out) ??
          composedGateBackward(out ? tf.mul(dy, tf.step(out)) : dy, olbs, zs, kept.m ?? tf.step(zs), dm, di, opts, opts.scaleGrad, wantDz);
        const dohb = gb.dohb as tf.Tensor4D;
        const dolb = gb.dolb as tf.Tensor4D;
        const dDelta = gb.dDelta;
        // dW's high-bit half and db share dO_hb: one backward-weights pass gives both when native.
        let dBias: tf.Tensor;
        let dW: tf.Tensor;
        if (opts.filterGrad) {
          const [dWhb, db] = conv2dFilterBiasGrad(hbs, dohb, wk.shape, g, bi, layout);
          dBias = db;
          dW = tf.add(dWhb, conv2dFilterGrad(lbs, dolb, wk.shape, g, layout));
        } else {
          dBias = channelSum(dohb, bi);
          dW = tf.zerosLike(wk);
        }
        // oneDNN's backward-data / backward-weights when the native kernels are on, else composed convs.
        const ghb = conv2dInputGrad(dohb, wk, xi.shape, g, layout);
        const qb = nativeQuantBackward(ghb, rs, hbs, sk) ?? composedQuantBackward(ghb, rs, hbs, sk, opts.scaleGrad);
        const dx = qb.dx;
        const ds = opts.scaleGrad ? tf.reshape(tf.add(qb.dsHb, tf.div(gb.dotLb, sk)), sk.shape) : tf.zerosLike(sk);
        release(kept);
        kept = undefined;
        if (addInside) return [dx, dW, dBias, dDelta, ds, dohb];
        return gb.dz ? [dx, dW, dBias, dDelta, ds, gb.dz] : [dx, dW, dBias, dDelta, ds];
      },
    };
  });
  const fraction = offset ? layer(x, w, b, delta, s, offset) : layer(x, w, b, delta, s);
  const state = kept!;
  // y and M as ops on the fraction: each passes the gradient it receives to the layer's backward and returns
  // a zero scalar for the fraction.
  const output = customGrad<[tf.Tensor]>(() => ({
    value: tf.clone(state.y!),
    gradFunc: (dy) => {
      dOut = dy;
      return [tf.zerosLike(fraction)];
    },
  }));
  const y = output(fraction) as tf.Tensor4D;
  const counts = tf.clone(state.counts!);
  for (const t of [state.y, state.counts]) t?.dispose();
  state.y = state.counts = undefined;
  const gateOp = customGrad<[tf.Tensor]>(() => ({
    value: tf.clone(state.m!),
    gradFunc: (dm) => {
      dGate = dm;
      return [tf.zerosLike(fraction)];
    },
  }));
  return { y, gate: wantGate ? (gateOp(fraction) as tf.Tensor4D) : undefined, fraction, counts };
}

/** The gradient reaching M: from the gate itself, from its mean (one value for every element), or both. */
function gateGradient(tensor: tf.Tensor | undefined, uniform: tf.Tensor | undefined): GateGradient | undefined {
  if (tensor && uniform) return { tensor: tf.add(tensor, uniform) };
  if (tensor) return { tensor };
  return uniform ? { uniform } : undefined;
}

// The composed tfjs paths (pure wasm, cpu, PG_NATIVE=0). The native kernels (gating/native/kernels.ts)
// repeat the forwards' float32 operations in this order, so both give bit-identical forwards.

/** Same op sequence as quantSplit (quantizer.ts), so x_hb and x_lb are bit-identical to it. */
export function composedQuantSplit(x: tf.Tensor, s: tf.Tensor, n: number, step: number): { r: tf.Tensor; hb: tf.Tensor; lb: tf.Tensor } {
  const r = tf.div(x, s);
  const qs = tf.round(tf.mul(tf.clipByValue(r, -1, 1), n));
  const unit = tf.div(s, n);
  const t = tf.mul(qs, 1 / step);
  const qhb = tf.mul(tf.sub(tf.floor(tf.relu(t)), tf.floor(tf.relu(tf.neg(t)))), step);
  const hb = tf.mul(qhb, unit);
  return { r, hb, lb: tf.sub(tf.mul(qs, unit), hb) };
}

/**
 * z = O_hb - Δ (or (O_hb + offset) - Δ, the kernel's gate input), M = step(z), O = O_hb + M ⊙ O_lb (with a tail
 * ReLU(O) or ReLU(O + offset): the ops the unfused graph runs), and M's mean and counts.
 */
export function composedGateForward(ohb: tf.Tensor, olb: tf.Tensor, delta: tf.Tensor, offset?: tf.Tensor, tail?: FusedTail): GateForward & { m: tf.Tensor } {
  const z = tf.sub(offset ? tf.add(ohb, offset) : ohb, delta);
  const m = tf.step(z);
  const o = tf.add(ohb, tf.mul(m, olb));
  return { y: applyTail(o, offset, tail), z, m, fraction: tf.mean(m), counts: tf.stack([tf.sum(m), tf.scalar(m.size)]) };
}

/** The executor's tail on a layer's output O: ReLU(O), ReLU(O + offset), or O itself. */
export function applyTail(o: tf.Tensor, offset: tf.Tensor | undefined, tail: FusedTail | undefined): tf.Tensor {
  if (tail === 'relu') return tf.relu(o);
  if (tail === 'add-relu') {
    if (!offset) throw new Error('internal: the add-relu tail needs the gate offset');
    return tf.relu(tf.add(o, offset));
  }
  return o;
}

/**
 * The gate's surrogate backward: dO_hb, dO_lb, dΔ, when wanted Σ dO_lb ⊙ O_lb (the low branch's share of ds,
 * times s), and with wantDz the gradient reaching z (a gate offset's).
 */
export function composedGateBackward(
  dy: tf.Tensor,
  olb: tf.Tensor,
  z: tf.Tensor,
  m: tf.Tensor,
  dGate: GateGradient | undefined,
  delta: tf.Tensor,
  opts: { alpha: number; sparseBackprop: boolean },
  wantDot: boolean,
  wantDz = false,
): GateGradients {
  const sg = tf.sigmoid(tf.mul(z, opts.alpha));
  let slope = tf.mul(tf.mul(sg, tf.sub(1, sg)), opts.alpha);
  if (opts.sparseBackprop) slope = tf.mul(slope, m);
  const up = tf.mul(dy, olb);
  const dg = dGate && ('tensor' in dGate ? dGate.tensor : dGate.uniform);
  const dz = tf.mul(dg ? tf.add(up, dg) : up, slope);
  const dolb = tf.mul(dy, m);
  return { dohb: tf.add(dy, dz), dolb, dDelta: tf.neg(channelSum(dz, delta)), dotLb: wantDot ? tf.sum(tf.mul(dolb, olb)) : tf.scalar(0), ...(wantDz ? { dz } : {}) };
}

/** dx = g ⊙ 1[|r| <= 1] (as steClipRound's backward: the bounds pass) and Σ g ⊙ (hb/s - 1[|r| <= 1] r) when wanted. */
export function composedQuantBackward(g: tf.Tensor, r: tf.Tensor, hb: tf.Tensor, s: tf.Tensor, wantSum: boolean): { dx: tf.Tensor; dsHb: tf.Tensor } {
  const inside = tf.sub(1, tf.step(tf.sub(tf.abs(r), 1)));
  const dx = tf.mul(g, inside);
  return { dx, dsHb: wantSum ? tf.sum(tf.mul(g, tf.sub(tf.div(hb, s), tf.mul(inside, r)))) : tf.scalar(0) };
}

interface Kept {
  r: tf.Tensor;
  hb: tf.Tensor4D;
  lb: tf.Tensor4D;
  olb: tf.Tensor;
  z: tf.Tensor;
  /** M, when the forward wrote it (composed, or asked for); the native backward recomputes it from z. */
  m?: tf.Tensor;
  /** The layer's output and M's counts until the ops on the fraction take them. */
  y?: tf.Tensor;
  /** The output after the tail's ReLU, for its backward; with a tail only. */
  out?: tf.Tensor;
  counts?: tf.Tensor;
  w: tf.Tensor4D;
  s: tf.Tensor;
}

/** Forward state of fused ops whose backward has not run. */
const pending = new Set<Kept>();

function release(k: Kept): void {
  pending.delete(k);
  for (const t of Object.values(k) as (tf.Tensor | undefined)[]) t?.dispose();
}

/**
 * Frees the forward state of fused ops whose backward did not run (a gradient computation whose loss
 * did not depend on them). Training calls it after each step; returns how many ops it released.
 */
export function releaseFusedState(): number {
  const n = pending.size;
  for (const k of [...pending]) release(k);
  return n;
}
