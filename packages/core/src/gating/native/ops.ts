import * as tf from '@tensorflow/tfjs-core';
import { customGrad } from '../../interpreter/custom-grad.js';
import type { FusedTail } from '../../interpreter/kernel.js';
import { activeNativeKernels, nativeKernelOn } from '../../interpreter/native/index.js';
import {
  ensurePgNativeKernels,
  PG_FAKE_QUANT,
  PG_FAKE_QUANT_BACKWARD,
  PG_GATE_BACKWARD,
  PG_GATE_FORWARD,
  PG_QUANT_BACKWARD,
  PG_QUANT_SPLIT,
  PG_QUANTIZE_WEIGHTS,
} from './kernels.js';

/**
 * The PG quantizer's and gate's fused passes (kernels.ts), or undefined when the native kernels are off (or
 * PG_NATIVE_QUANT=0 keeps the convolutions native and these composed, for comparisons), the backend is not
 * wasm, a tensor is not float32 or a shape is one they do not take: callers then run their composed tfjs ops.
 * No gradients (gating/fused-conv.ts calls these inside its own hand-written backward), except nativeFakeQuant's.
 */
function on(...ts: (tf.Tensor | undefined)[]): boolean {
  const k = activeNativeKernels();
  if (!k || process.env.PG_NATIVE_QUANT === '0') return false;
  ensurePgNativeKernels(k);
  return nativeKernelOn(PG_QUANT_SPLIT, ...ts);
}

function sameShape(a: tf.Tensor, ...rest: (tf.Tensor | undefined)[]): boolean {
  return rest.every((t) => t === undefined || tf.util.arraysEqual(a.shape, t.shape));
}

/** s per tensor (one element) or per sample (one per batch entry, the leading axis). */
function scaleFits(x: tf.Tensor, s: tf.Tensor): boolean {
  return x.size > 0 && (s.size === 1 || (x.rank > 0 && s.size === x.shape[0] && s.shape[0] === x.shape[0]));
}

/** Δ per channel: as many elements as the last axis, e.g. [C] or [1, 1, 1, C]. */
function channelsFit(t: tf.Tensor, delta: tf.Tensor): boolean {
  return t.rank > 0 && t.size > 0 && delta.size === t.shape[t.rank - 1] && delta.shape.every((d, i) => i === delta.rank - 1 || d === 1);
}

/** r = x/s and the quantizer's parts hb, lb, bit-identical to quantSplit's composed ops. */
export function nativeQuantSplit(x: tf.Tensor, s: tf.Tensor, bits: number, hbits: number): { r: tf.Tensor; hb: tf.Tensor; lb: tf.Tensor } | undefined {
  if (!on(x, s) || !scaleFits(x, s) || bits > 16) return undefined;
  const [r, hb, lb] = tf.engine().runKernel(PG_QUANT_SPLIT, { x, s }, { bits, hbits }) as tf.Tensor[];
  return { r, hb, lb };
}

/** dx = g·1[|r| <= 1] and the scalar Σ g·(hb/s - 1[|r| <= 1]·r). */
export function nativeQuantBackward(g: tf.Tensor, r: tf.Tensor, hb: tf.Tensor, s: tf.Tensor): { dx: tf.Tensor; dsHb: tf.Tensor } | undefined {
  if (!on(g, r, hb, s) || !sameShape(g, r, hb) || !scaleFits(g, s)) return undefined;
  const [dx, dsHb] = tf.engine().runKernel(PG_QUANT_BACKWARD, { g, r, hb, s }, {}) as tf.Tensor[];
  return { dx, dsHb };
}

/** The gate forward's results: y, z and M as the composed ops give them, and M's statistics. */
export interface GateForward {
  y: tf.Tensor;
  z: tf.Tensor;
  /** M = step(z); the native pass writes it only when asked (the backward recomputes it from z). */
  m?: tf.Tensor;
  /** ΣM / size, the value tf.mean(M) gives (a scalar). */
  fraction: tf.Tensor;
  /** [ΣM, size] (float32). */
  counts: tf.Tensor;
}

/**
 * z = O_hb - Δ, or (O_hb + offset) - Δ with a gate offset (the residual gate), M = step(z), y = O_hb + M·O_lb
 * and its tail, ReLU(y) or ReLU(y + offset) (bit-identical to the composed ops), with M's mean and counts from
 * the same pass.
 */
export function nativeGateForward(ohb: tf.Tensor, olb: tf.Tensor, delta: tf.Tensor, offset: tf.Tensor | undefined, wantGate: boolean, tail?: FusedTail): GateForward | undefined {
  if (!on(ohb, olb, delta, offset) || !sameShape(ohb, olb, offset) || !channelsFit(ohb, delta) || (tail === 'add-relu' && !offset)) return undefined;
  const inputs: Record<string, tf.Tensor> = { ohb, olb, delta };
  if (offset) inputs.offset = offset;
  const [y, z, fraction, counts, m] = tf.engine().runKernel(PG_GATE_FORWARD, inputs, { wantGate, tail: tail ?? 'none' }) as tf.Tensor[];
  return { y, z, m, fraction, counts };
}

/**
 * The gradient reaching the gate M: a tensor of M's shape, or `uniform`, one value (a scalar tensor) for every
 * element (the gradient of M's mean).
 */
export type GateGradient = { tensor: tf.Tensor } | { uniform: tf.Tensor };

/**
 * dO_hb, dO_lb, dΔ (shaped like `delta`) and the scalar Σ dO_lb·O_lb of the gate's surrogate backward, with
 * M = step(z), and with wantDz the gradient dz reaching z (a gate offset's gradient). With `out`, the layer's
 * output after a ReLU tail, the gradient reaching O is dy·step(out) (the ReLU's backward in the same pass).
 */
export function nativeGateBackward(
  dy: tf.Tensor,
  olb: tf.Tensor,
  z: tf.Tensor,
  dGate: GateGradient | undefined,
  delta: tf.Tensor,
  alpha: number,
  sparse: boolean,
  wantDz = false,
  out?: tf.Tensor,
): GateGradients | undefined {
  const dg = dGate && 'tensor' in dGate ? dGate.tensor : undefined;
  const dgUniform = dGate && 'uniform' in dGate ? dGate.uniform : undefined;
  if (!on(dy, olb, z, dg, dgUniform, out) || !sameShape(dy, olb, z, dg, out) || (dgUniform && dgUniform.size !== 1) || !channelsFit(dy, delta)) return undefined;
  const inputs: Record<string, tf.Tensor> = { dy, olb, z };
  if (out) inputs.out = out;
  if (dg) inputs.dGate = dg;
  if (dgUniform) inputs.dgUniform = dgUniform;
  const [dohb, dolb, dDelta, dotLb, dz] = tf.engine().runKernel(PG_GATE_BACKWARD, inputs, { alpha, sparse, wantDz }) as tf.Tensor[];
  return { dohb, dolb, dDelta: tf.reshape(dDelta, delta.shape), dotLb, dz };
}

/** The gate's surrogate gradients (native or composed, pg/fused-conv.ts). */
export interface GateGradients {
  dohb: tf.Tensor;
  dolb: tf.Tensor;
  dDelta: tf.Tensor;
  /** Σ dO_lb ⊙ O_lb (the low branch's share of the scale gradient, times s); a zero scalar when not wanted. */
  dotLb: tf.Tensor;
  /** The gradient reaching z = O_hb (+ offset) - Δ, when asked for: the gate offset's. */
  dz?: tf.Tensor;
}

/**
 * fakeQuant's x_q = round(clip(x/s, -1, 1)·n)·(s/n) in one pass, bit-identical to the composed ops, with the
 * straight-through gradients autodiff gives through them (to x and s; float tolerance, sums in double).
 */
export function nativeFakeQuant(x: tf.Tensor, s: tf.Tensor, bits: number): tf.Tensor | undefined {
  if (!on(x, s) || !scaleFits(x, s) || bits > 16) return undefined;
  const op = customGrad<[tf.Tensor, tf.Tensor]>(([xi, si], save) => {
    const [r, xq] = tf.engine().runKernel(PG_FAKE_QUANT, { x: xi, s: si }, { bits }) as tf.Tensor[];
    save([r, si]);
    return {
      value: xq,
      gradFunc: (dy, [rs, ss]) => tf.engine().runKernel(PG_FAKE_QUANT_BACKWARD, { dy, r: rs, s: ss }, { bits }) as tf.Tensor[],
    };
  });
  return op(x, s);
}

/**
 * pg's per-tensor weight quantizer (quantizeWeights) in one pass, bit-identical to its composed ops, with the
 * straight-through gradient dw = dy.
 */
export function nativeQuantizeWeights(w: tf.Tensor, wbits: number): tf.Tensor | undefined {
  if (!on(w) || w.size === 0 || wbits < 1 || wbits > 16) return undefined;
  const op = customGrad<[tf.Tensor]>(([wi]) => ({
    value: (tf.engine().runKernel(PG_QUANTIZE_WEIGHTS, { w: wi }, { bits: wbits }) as tf.Tensor[])[0],
    gradFunc: (dy) => [dy],
  }));
  return op(w);
}
