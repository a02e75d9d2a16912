import * as tf from '@tensorflow/tfjs-core';
import { UnsupportedModelError } from '../errors/index.js';
import { attrInt } from '../runtime/attributes.js';
import { convGeometry, convNhwc, weightGradients } from '../runtime/ops/conv.js';
import { gemm } from '../runtime/ops/linear.js';
import type { KernelContext } from '../runtime/kernel.js';
import { defaultRegistry } from '../runtime/registry.js';
import { nhwc, plain, toLogical, toNhwc, type RtValue } from '../runtime/value.js';
import { PG_CONV, PG_DOMAIN, PG_GEMM, Q_CONV, Q_GEMM } from './format.js';
import { gate } from './gate.js';
import { fusedPgConv } from './fused-conv.js';
import { effectiveScale, fakeQuant, quantSplit, quantizeWeights } from './quantizer.js';

/** Keys the pg kernels report to an observer (metrics, calibration, training). */
export const OBSERVE = {
  /** Tensor: the gate M (1 where the output took the update), NHWC / [N, C]; differentiable (surrogate). */
  gate: 'pg.gate',
  /** Tensor: the prediction O_hb (NHWC / [N, C]); threshold calibration reads it. */
  prediction: 'pg.prediction',
  /** Tensor: the layer's input activations; static scale calibration reads them. */
  input: 'pg.input',
} as const;

/** Kernel settings read by the gate while training. */
export const SETTINGS = { alpha: 'pg.alpha', sparseBackprop: 'pg.sparse_backprop' } as const;

type Kind = 'conv' | 'gemm';

interface Layer {
  x: tf.Tensor;
  wq: tf.Tensor;
  bias?: tf.Tensor;
  s: tf.Tensor;
  bits: number;
  dynamic: boolean;
}

function prepare(kind: Kind, inputs: (RtValue | undefined)[], scaleIndex: number, ctx: KernelContext): Layer {
  const [xv, wv, bv] = inputs;
  const sv = inputs[scaleIndex];
  const { node } = ctx;
  if (!xv || !wv || !sv) throw new UnsupportedModelError(`node '${node.name}' (${node.opType}): missing X, W or ActScale input`);
  const bits = attrInt(node, 'bits');
  const wbits = attrInt(node, 'wbits');
  if (bits === undefined || wbits === undefined) throw new UnsupportedModelError(`node '${node.name}' (${node.opType}): attributes bits and wbits are required`);
  const x = kind === 'conv' ? toNhwc(xv) : toLogical(xv);
  const dynamic = attrInt(node, 'dynamic_scale', 1) === 1;
  const obs = ctx.observer;
  if (obs?.wants(node, OBSERVE.input)) obs.observe?.(node, OBSERVE.input, x);
  return { x, wq: quantizeWeights(wv.t, wbits), bias: bv?.t, s: effectiveScale(x, sv.t, dynamic), bits, dynamic };
}

function linear(kind: Kind, ctx: KernelContext, x: tf.Tensor, wq: tf.Tensor, bias?: tf.Tensor): tf.Tensor {
  return kind === 'conv' ? convNhwc(ctx.node, x as tf.Tensor4D, wq, bias, weightGradients(ctx)) : gemm(ctx.node, x, wq, bias);
}

const wrap = (kind: Kind, t: tf.Tensor): RtValue => (kind === 'conv' ? nhwc(t) : plain(t));

function gatedKernel(kind: Kind) {
  return (inputs: (RtValue | undefined)[], ctx: KernelContext): RtValue[] => {
    const { node, observer: obs } = ctx;
    const layer = prepare(kind, inputs, 4, ctx);
    const delta = inputs[3];
    const hbits = attrInt(node, 'hbits');
    if (!delta || hbits === undefined) throw new UnsupportedModelError(`node '${node.name}' (${node.opType}): missing Threshold input or hbits attribute`);
    const gateOpts = {
      alpha: Number(ctx.settings[SETTINGS.alpha] ?? 5),
      sparseBackprop: ctx.settings[SETTINGS.sparseBackprop] === true,
    };
    // The fused op does not expose O_hb (calibration, which reads it, does not train).
    const fused = kind === 'conv' && ctx.training && !obs?.wants(node, OBSERVE.prediction) ? fusedTraining(ctx, layer, delta.t, hbits, gateOpts) : undefined;
    if (fused) {
      if (obs?.wants(node, OBSERVE.gate)) obs.observe?.(node, OBSERVE.gate, fused.gate);
      return [nhwc(fused.y)];
    }
    const { hb, lb } = quantSplit(layer.x, layer.s, layer.bits, hbits);
    const ohb = linear(kind, ctx, hb, layer.wq, layer.bias);
    const olb = linear(kind, ctx, lb, layer.wq);
    if (obs?.wants(node, OBSERVE.prediction)) obs.observe?.(node, OBSERVE.prediction, ohb);
    const m = gate(ohb, delta.t, gateOpts);
    if (obs?.wants(node, OBSERVE.gate)) obs.observe?.(node, OBSERVE.gate, m);
    const y = tf.add(ohb, tf.mul(m, olb));
    return [wrap(kind, y)];
  };
}

/**
 * While training, a plain (group 1) gated conv runs as one fused op with a hand-written backward
 * (fused-conv.ts); grouped and depthwise ones, and stride with dilation, take the composed path.
 */
function fusedTraining(ctx: KernelContext, layer: Layer, delta: tf.Tensor, hbits: number, gateOpts: { alpha: number; sparseBackprop: boolean }) {
  const { node } = ctx;
  const x = layer.x as tf.Tensor4D;
  if (attrInt(node, 'group', 1) !== 1 || layer.wq.rank !== 4) return undefined;
  const [, , kh, kw] = layer.wq.shape;
  const geometry = convGeometry(node, [x.shape[1], x.shape[2]], [kh, kw]);
  if (geometry.strides.some((s) => s > 1) && geometry.dilations.some((d) => d > 1)) return undefined;
  const w = tf.transpose(layer.wq, [2, 3, 1, 0]) as tf.Tensor4D;
  return fusedPgConv(x, w, layer.bias, delta, layer.s, {
    bits: layer.bits,
    hbits,
    ...gateOpts,
    filterGrad: weightGradients(ctx),
    scaleGrad: !layer.dynamic,
    geometry,
  });
}

function quantKernel(kind: Kind) {
  return (inputs: (RtValue | undefined)[], ctx: KernelContext): RtValue[] => {
    const layer = prepare(kind, inputs, 3, ctx);
    return [wrap(kind, linear(kind, ctx, fakeQuant(layer.x, layer.s, layer.bits), layer.wq, layer.bias))];
  };
}

defaultRegistry.register(PG_CONV, gatedKernel('conv'), { domain: PG_DOMAIN });
defaultRegistry.register(PG_GEMM, gatedKernel('gemm'), { domain: PG_DOMAIN });
defaultRegistry.register(Q_CONV, quantKernel('conv'), { domain: PG_DOMAIN });
defaultRegistry.register(Q_GEMM, quantKernel('gemm'), { domain: PG_DOMAIN });
