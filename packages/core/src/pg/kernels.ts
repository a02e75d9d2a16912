import * as tf from '@tensorflow/tfjs-core';
import { UnsupportedModelError } from '../errors/index.js';
import { attrInt } from '../runtime/attributes.js';
import { convNhwc } from '../runtime/ops/conv.js';
import { gemm } from '../runtime/ops/linear.js';
import type { KernelContext } from '../runtime/kernel.js';
import { defaultRegistry } from '../runtime/registry.js';
import { nhwc, plain, toLogical, toNhwc, type RtValue } from '../runtime/value.js';
import { PG_CONV, PG_DOMAIN, PG_GEMM, Q_CONV, Q_GEMM } from './format.js';
import { gate } from './gate.js';
import { effectiveScale, fakeQuant, quantSplit, quantizeWeights } from './quantizer.js';

/** Keys the gated kernels report to an observer (metrics, calibration). */
export const OBSERVE = {
  /** Per output channel: how many outputs took the low-bit update, summed over batch and positions. */
  updated: 'pg.updated',
  /** The prediction O_hb (NHWC / [N, C]); threshold calibration reads it. */
  prediction: 'pg.prediction',
  /** The layer's input activations; static scale calibration reads them. */
  input: 'pg.input',
} as const;

/** Kernel settings read by the gate while training. */
export const SETTINGS = { alpha: 'pg.alpha', sparseBackprop: 'pg.sparse_backprop' } as const;

type Kind = 'conv' | 'gemm';

interface Layer {
  kind: Kind;
  x: tf.Tensor;
  wq: tf.Tensor;
  bias?: tf.Tensor;
  s: tf.Tensor;
  dynamic: boolean;
  bits: number;
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
  return { kind, x, wq: quantizeWeights(wv.t, wbits), bias: bv?.t, s: effectiveScale(x, sv.t, dynamic), dynamic, bits };
}

function linear(layer: Layer, ctx: KernelContext, x: tf.Tensor, bias?: tf.Tensor): tf.Tensor {
  return layer.kind === 'conv' ? convNhwc(ctx.node, x as tf.Tensor4D, layer.wq, bias) : gemm(ctx.node, x, layer.wq, bias);
}

const wrap = (kind: Kind, t: tf.Tensor): RtValue => (kind === 'conv' ? nhwc(t) : plain(t));

function gatedKernel(kind: Kind) {
  return (inputs: (RtValue | undefined)[], ctx: KernelContext): RtValue[] => {
    const layer = prepare(kind, inputs, 4, ctx);
    const delta = inputs[3];
    if (!delta) throw new UnsupportedModelError(`node '${ctx.node.name}' (${ctx.node.opType}): missing Threshold input`);
    const hbits = attrInt(ctx.node, 'hbits');
    if (hbits === undefined) throw new UnsupportedModelError(`node '${ctx.node.name}' (${ctx.node.opType}): attribute hbits is required`);
    const obs = ctx.observer;
    if (obs?.wants(ctx.node, OBSERVE.input)) obs.observe(ctx.node, OBSERVE.input, layer.x);
    // Both phases in one call: [x_hb; x_lb] stacked on the batch axis share the weights' layout work.
    const both = linear(layer, ctx, quantSplit(layer.x, layer.s, layer.bits, hbits, !layer.dynamic));
    const [hb, olb] = tf.split(both, 2, 0);
    const ohb = layer.bias ? tf.add(hb, layer.bias) : hb;
    const m = gate(ohb, delta.t, {
      alpha: Number(ctx.settings[SETTINGS.alpha] ?? 5),
      sparseBackprop: ctx.settings[SETTINGS.sparseBackprop] === true,
    });
    if (obs?.wants(ctx.node, OBSERVE.prediction)) obs.observe(ctx.node, OBSERVE.prediction, ohb);
    if (obs?.wants(ctx.node, OBSERVE.updated)) obs.observe(ctx.node, OBSERVE.updated, tf.sum(m, m.shape.map((_, i) => i).slice(0, -1)));
    return [wrap(kind, tf.add(ohb, tf.mul(m, olb)))];
  };
}

function quantKernel(kind: Kind) {
  return (inputs: (RtValue | undefined)[], ctx: KernelContext): RtValue[] => {
    const layer = prepare(kind, inputs, 3, ctx);
    const obs = ctx.observer;
    if (obs?.wants(ctx.node, OBSERVE.input)) obs.observe(ctx.node, OBSERVE.input, layer.x);
    return [wrap(kind, linear(layer, ctx, fakeQuant(layer.x, layer.s, layer.bits, !layer.dynamic), layer.bias))];
  };
}

defaultRegistry.register(PG_CONV, gatedKernel('conv'), { domain: PG_DOMAIN });
defaultRegistry.register(PG_GEMM, gatedKernel('gemm'), { domain: PG_DOMAIN });
defaultRegistry.register(Q_CONV, quantKernel('conv'), { domain: PG_DOMAIN });
defaultRegistry.register(Q_GEMM, quantKernel('gemm'), { domain: PG_DOMAIN });
