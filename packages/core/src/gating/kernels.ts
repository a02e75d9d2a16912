import * as tf from '@tensorflow/tfjs-core';
import { util } from '@tensorflow/tfjs-core';
import { UnsupportedModelError } from '../errors/index.js';
import { attrFloat, attrInt } from '../interpreter/attributes.js';
import { convGeometry, convNhwc, weightGradients } from '../interpreter/ops/conv.js';
import { onnxLayoutTrainable, type Conv2dGeometry } from '../interpreter/ops/conv2d-trainable.js';
import { gemm, gemmProduct, tokenLinear } from '../interpreter/ops/linear.js';
import type { Kernel, KernelContext, Observer } from '../interpreter/kernel.js';
import type { Node } from '../graph/index.js';
import type { OpDeclaration } from '../interpreter/op-declaration.js';
import { nhwc, plain, toLogical, toNhwc, type RtValue } from '../interpreter/value.js';
import {
  INTEGER_ACCUMULATION_VERSION,
  PG_CONV,
  PG_CONV_RESIDUAL,
  PG_DOMAIN,
  PG_GEMM,
  PG_GEMM_RESIDUAL,
  PG_MATMUL,
  Q_CONV,
  Q_GEMM,
  Q_MATMUL,
  RECOMPUTE_ATTR,
  isResidualGatedNode,
} from './format.js';
import { gate } from './gate.js';
import { applyTail, fusedPgConv, type FusedGate } from './fused-conv.js';
import { fusedPgMatMul } from './fused-matmul.js';
import { effectiveScale, fakeQuant, integerCodes, quantSplit, quantizeWeights, weightCodes } from './quantizer.js';

/** Keys the pg kernels report to an observer (metrics, calibration, training). */
export const OBSERVE = {
  /** Tensor: the gate M (1 where the output took the update), channels last: NHWC, [N, C], or [N, ..., C] for a MatMul; differentiable (surrogate). */
  gate: 'pg.gate',
  /**
   * Tensor: what the gate compares with Δ (NHWC / [N, C]): the prediction O_hb, plus the gate offset for a
   * layer gated on the sum with a residual; threshold calibration reads it.
   */
  prediction: 'pg.prediction',
  /** Tensor: a residual-gated layer's gate offset (the Add's other operand), in the layout of its output. */
  offset: 'pg.offset',
  /** Tensor: the layer's input activations; static scale calibration reads them. */
  input: 'pg.input',
  /**
   * Scalar tensor: the fraction of the layer's outputs whose gate is on (the mean of M), differentiable through
   * the surrogate like M; the sparsity budget reads it. A fused gated layer counts it in its gate pass.
   */
  updateFraction: 'pg.update_fraction',
  /** Tensor [2]: the outputs whose gate is on, and all outputs (float32, no gradient). */
  gateCounts: 'pg.gate_counts',
} as const;

/**
 * Hands the observer the gate M and its statistics, those it wants: from the fused op's gate pass when there
 * was one, else from M.
 */
export function observeGate(obs: Observer | undefined, node: Node, m: tf.Tensor | undefined, stats?: { fraction: tf.Tensor; counts: tf.Tensor }): void {
  if (!obs?.observe) return;
  if (m && obs.wants(node, OBSERVE.gate)) obs.observe(node, OBSERVE.gate, m);
  if (obs.wants(node, OBSERVE.updateFraction)) obs.observe(node, OBSERVE.updateFraction, stats?.fraction ?? tf.mean(m!));
  if (obs.wants(node, OBSERVE.gateCounts)) obs.observe(node, OBSERVE.gateCounts, stats?.counts ?? tf.stack([tf.sum(m!), tf.scalar(m!.size)]));
}

/** Whether the observer wants the gate or a statistic of it. */
export function wantsGate(obs: Observer | undefined, node: Node): boolean {
  return !!obs && (obs.wants(node, OBSERVE.gate) || obs.wants(node, OBSERVE.updateFraction) || obs.wants(node, OBSERVE.gateCounts));
}

/** Kernel settings read by the gate while training. */
export const SETTINGS = { alpha: 'pg.alpha', sparseBackprop: 'pg.sparse_backprop' } as const;

/** The linear op a pg node computes: a Conv (NHWC here), a Gemm, or a MatMul over the last axis (PGMatMul, QMatMul). */
type Kind = 'conv' | 'gemm' | 'matmul';

interface Layer {
  x: tf.Tensor;
  wq: tf.Tensor;
  bias?: tf.Tensor;
  s: tf.Tensor;
  bits: number;
  dynamic: boolean;
}

/** A pg node's inputs and attributes, checked, with X in the layout its linear op wants (and shown to the observer). */
function operands(kind: Kind, inputs: (RtValue | undefined)[], scaleIndex: number, ctx: KernelContext) {
  const [xv, wv, bv] = inputs;
  const sv = inputs[scaleIndex];
  const { node } = ctx;
  if (!xv || !wv || !sv) throw new UnsupportedModelError(`node '${node.name}' (${node.opType}): missing X, W or ActScale input`);
  const bits = attrInt(node, 'bits');
  const wbits = attrInt(node, 'wbits');
  if (bits === undefined || wbits === undefined) throw new UnsupportedModelError(`node '${node.name}' (${node.opType}): attributes bits and wbits are required`);
  if (kind === 'gemm' && attrInt(node, 'transA', 0) !== 0) {
    // Samples must be X's rows for the per-sample scale and codes; pg convert puts a Gemm's transA into a Transpose.
    throw new UnsupportedModelError(`node '${node.name}' (${node.opType}): transA = 1 is not part of the gated format`, {
      action: 'convert the float model again: pg convert writes a Transpose in front of a Gemm with transA = 1',
    });
  }
  const x = kind === 'conv' ? toNhwc(xv) : toLogical(xv);
  const dynamic = attrInt(node, 'dynamic_scale', 1) === 1;
  const obs = ctx.observer;
  if (obs?.wants(node, OBSERVE.input)) obs.observe?.(node, OBSERVE.input, x);
  return { x, w: wv.t, bias: bv?.t, s: effectiveScale(x, sv.t, dynamic), bits, wbits, dynamic };
}

function prepare(kind: Kind, inputs: (RtValue | undefined)[], scaleIndex: number, ctx: KernelContext): Layer {
  const { x, w, bias, s, bits, wbits, dynamic } = operands(kind, inputs, scaleIndex, ctx);
  return { x, wq: quantizeWeights(w, wbits), bias, s, bits, dynamic };
}

function linear(kind: Kind, ctx: KernelContext, x: tf.Tensor, wq: tf.Tensor, bias?: tf.Tensor): tf.Tensor {
  if (kind === 'conv') return convNhwc(ctx.node, x as tf.Tensor4D, wq, bias, weightGradients(ctx));
  if (kind === 'gemm') return gemm(ctx.node, x, wq, bias);
  return tokenLinear(x, wq, bias);
}

const wrap = (kind: Kind, t: tf.Tensor): RtValue => (kind === 'conv' ? nhwc(t) : plain(t));

/**
 * The forms of pg's ops (docs/gated-format.md): 1 computes on dequantized values; 2 accumulates integer codes
 * and scales after, in inference. Training keeps the dequantized computation in both (its gradients flow
 * through x_hb/x_lb and W_q); the ulps between the two do not matter for training.
 */
type Form = 1 | typeof INTEGER_ACCUMULATION_VERSION;
const integerForm = (form: Form, ctx: KernelContext): boolean => form === INTEGER_ACCUMULATION_VERSION && !ctx.training;

interface IntegerLayer {
  k: tf.Tensor;
  /** Value of one accumulator unit, c = (s/n)·(s_w/n_w): per sample ([N,1,1,1] / [N,1]) or a scalar. */
  accUnit: tf.Tensor;
  bias?: tf.Tensor;
  qs: tf.Tensor;
}

/**
 * The version-2 operands, in the op order of integerOperands in functions.ts. A Gemm's alpha scales the
 * accumulator unit and its beta the bias (C): elementwise float32 products, so still the same bits in
 * every runtime.
 */
function prepareInteger(kind: Kind, inputs: (RtValue | undefined)[], scaleIndex: number, ctx: KernelContext): IntegerLayer {
  const { x, w, bias, s, bits, wbits } = operands(kind, inputs, scaleIndex, ctx);
  const k = weightCodes(w, wbits);
  const a = integerCodes(x, s, bits);
  const accUnit = tf.mul(a.unit, k.unit);
  if (kind !== 'gemm') return { k: k.k, accUnit, bias, qs: a.qs };
  const { node } = ctx;
  return { k: k.k, accUnit: tf.mul(accUnit, attrFloat(node, 'alpha', 1)), bias: bias && tf.mul(bias, attrFloat(node, 'beta', 1)), qs: a.qs };
}

/** Integer codes accumulated (exact in float32 below 2^24), then scaled: acc · unit (+ bias). */
function scaledAccumulation(kind: Kind, ctx: KernelContext, codes: tf.Tensor, layer: IntegerLayer, unit: tf.Tensor, bias?: tf.Tensor): tf.Tensor {
  const acc = kind === 'gemm' ? gemmProduct(codes, layer.k, false, attrInt(ctx.node, 'transB', 0) === 1) : linear(kind, ctx, codes, layer.k);
  const y = tf.mul(acc, unit);
  return bias ? tf.add(y, bias) : y;
}

/**
 * A residual-gated layer's gate offset (input 5, the other operand of the Add its output goes into), in the
 * layout of the layer's output; undefined for a plain gated layer.
 */
function gateOffset(kind: Kind, inputs: (RtValue | undefined)[], ctx: KernelContext): tf.Tensor | undefined {
  const { node, observer: obs } = ctx;
  if (!isResidualGatedNode(node)) return undefined;
  const v = inputs[5];
  if (!v) throw new UnsupportedModelError(`node '${node.name}' (${node.opType}): missing GateOffset input`);
  const offset = kind === 'conv' ? toNhwc(v) : toLogical(v);
  if (obs?.wants(node, OBSERVE.offset)) obs.observe?.(node, OBSERVE.offset, offset);
  return offset;
}

/** What the gate compares with Δ: O_hb, or O_hb + offset; the shapes must match exactly (pg convert checks it). */
function gateInput(node: KernelContext['node'], ohb: tf.Tensor, offset: tf.Tensor | undefined): tf.Tensor {
  if (!offset) return ohb;
  if (!util.arraysEqual(ohb.shape, offset.shape)) {
    throw new UnsupportedModelError(`node '${node.name}' (${node.opType}): GateOffset of shape [${offset.shape.join(', ')}] does not match the output [${ohb.shape.join(', ')}]`, {
      action: "the offset is the residual Add's other operand, of the layer's own output shape; convert the float model again",
    });
  }
  return tf.add(ohb, offset);
}

function gatedKernel(kind: Kind, form: Form): Kernel {
  return (inputs, ctx) => {
    const { node, observer: obs } = ctx;
    const delta = inputs[3];
    const hbits = attrInt(node, 'hbits');
    if (!delta || hbits === undefined) throw new UnsupportedModelError(`node '${node.name}' (${node.opType}): missing Threshold input or hbits attribute`);
    const recompute = attrInt(node, RECOMPUTE_ATTR, 0) === 1;
    const offset = gateOffset(kind, inputs, ctx);
    if (integerForm(form, ctx)) {
      const layer = prepareInteger(kind, inputs, 4, ctx);
      const bits = attrInt(node, 'bits') as number;
      const step = 2 ** (bits - hbits);
      // q_hb = trunc(q_s / step) (signed top bits), q_lb = q_s - step·q_hb; step is a power of two, so exact.
      const top = tf.sub(tf.floor(tf.relu(tf.div(layer.qs, step))), tf.floor(tf.relu(tf.neg(tf.div(layer.qs, step)))));
      const qlb = tf.sub(layer.qs, tf.mul(top, step));
      const ohb = scaledAccumulation(kind, ctx, top, layer, tf.mul(layer.accUnit, step), layer.bias);
      const compared = gateInput(node, ohb, offset);
      if (obs?.wants(node, OBSERVE.prediction)) obs.observe?.(node, OBSERVE.prediction, compared);
      const m = tf.step(tf.sub(compared, delta.t));
      observeGate(obs, node, m);
      const update = tf.mul(m, scaledAccumulation(kind, ctx, qlb, layer, layer.accUnit));
      // SeerNet: O_hb · M + M · O_lb (the function body's ops, so the same float32 values); PG: O_hb + M · O_lb.
      return [wrap(kind, tf.add(recompute ? tf.mul(ohb, m) : ohb, update))];
    }
    const layer = prepare(kind, inputs, 4, ctx);
    const gateOpts = {
      alpha: Number(ctx.settings[SETTINGS.alpha] ?? 5),
      sparseBackprop: ctx.settings[SETTINGS.sparseBackprop] === true,
    };
    // The fused op does not expose O_hb (calibration, which reads it, does not train) and writes PG's output.
    const fused = !recompute && ctx.training && !obs?.wants(node, OBSERVE.prediction) ? fusedTraining(kind, ctx, layer, delta.t, hbits, gateOpts, offset) : undefined;
    if (fused) {
      observeGate(obs, node, fused.gate, fused);
      return [wrap(kind, fused.y)];
    }
    const { hb, lb } = quantSplit(layer.x, layer.s, layer.bits, hbits);
    const ohb = linear(kind, ctx, hb, layer.wq, layer.bias);
    const olb = linear(kind, ctx, lb, layer.wq);
    const compared = gateInput(node, ohb, offset);
    if (obs?.wants(node, OBSERVE.prediction)) obs.observe?.(node, OBSERVE.prediction, compared);
    // With an offset the surrogate gradient reaches it too: training sees the gate through the Add.
    const m = gate(compared, delta.t, gateOpts);
    observeGate(obs, node, m);
    // SeerNet writes the B-bit result where the gate passes and zero elsewhere: the surrogate's gradient then
    // reaches Δ through the whole output, O_hb + O_lb, instead of through O_lb alone.
    const y = recompute ? tf.mul(m, tf.add(ohb, olb)) : tf.add(ohb, tf.mul(m, olb));
    return [wrap(kind, applyTail(y, offset, ctx.tail))];
  };
}

/**
 * While training, a plain (group 1) gated conv, with or without a gate offset, runs as one fused op with a
 * hand-written backward (fused-conv.ts); grouped and depthwise ones, and stride with dilation, take the
 * composed path. A gated MatMul runs as the same op (fused-matmul.ts) when the native kernels are on; a
 * gated Gemm is composed.
 */
function fusedTraining(
  kind: Kind,
  ctx: KernelContext,
  layer: Layer,
  delta: tf.Tensor,
  hbits: number,
  gateOpts: { alpha: number; sparseBackprop: boolean },
  offset: tf.Tensor | undefined,
): FusedGate | undefined {
  if (kind === 'gemm') return undefined;
  const { node, observer: obs } = ctx;
  const wanted = { wantGate: !!obs?.wants(node, OBSERVE.gate), wantFraction: !!obs?.wants(node, OBSERVE.updateFraction) };
  const trained = { bits: layer.bits, hbits, ...gateOpts, ...wanted, filterGrad: weightGradients(ctx), scaleGrad: !layer.dynamic };
  // The fused MatMul runs no tail: a layer given one takes the composed path, which applies it.
  if (kind === 'matmul') return ctx.tail ? undefined : fusedPgMatMul(layer.x, layer.wq as tf.Tensor2D, layer.bias, delta, layer.s, trained, offset);
  const x = layer.x as tf.Tensor4D;
  if (attrInt(node, 'group', 1) !== 1 || layer.wq.rank !== 4) return undefined;
  const [, , kh, kw] = layer.wq.shape;
  const geometry = convGeometry(node, [x.shape[1], x.shape[2]], [kh, kw]);
  if (geometry.strides.some((s) => s > 1) && geometry.dilations.some((d) => d > 1)) return undefined;
  // An offset not of the output's shape takes the composed path, whose gateInput says what is wrong.
  if (offset && !util.arraysEqual(offset.shape, convOutputShape(x.shape, layer.wq.shape, geometry))) return undefined;
  // With the native kernels the ONNX-layout weight trains as it is (no per-step transpose, nor its gradient's).
  const onnx = onnxLayoutTrainable(x, layer.wq.shape, geometry, layer.bias);
  const w = (onnx ? layer.wq : tf.transpose(layer.wq, [2, 3, 1, 0])) as tf.Tensor4D;
  const opts = { ...trained, weightLayout: onnx ? 'oihw' : 'hwio', geometry, tail: ctx.tail } as const;
  return fusedPgConv(x, w, layer.bias, delta, layer.s, opts, offset as tf.Tensor4D | undefined);
}

/** A group-1 conv's NHWC output shape from its NHWC input, ONNX [cout, cin, kh, kw] weight and geometry. */
function convOutputShape(x: readonly number[], w: readonly number[], g: Conv2dGeometry): number[] {
  const [n, h, wd] = x;
  const [cout, , kh, kw] = w;
  const [pt, pb, pl, pr] = g.pads;
  const out = (size: number, pad: number, k: number, dil: number, stride: number) => Math.floor((size + pad - ((k - 1) * dil + 1)) / stride) + 1;
  return [n, out(h, pt + pb, kh, g.dilations[0], g.strides[0]), out(wd, pl + pr, kw, g.dilations[1], g.strides[1]), cout];
}

function quantKernel(kind: Kind, form: Form): Kernel {
  return (inputs, ctx) => {
    if (integerForm(form, ctx)) {
      const layer = prepareInteger(kind, inputs, 3, ctx);
      return [wrap(kind, scaledAccumulation(kind, ctx, layer.qs, layer, layer.accUnit, layer.bias))];
    }
    const layer = prepare(kind, inputs, 3, ctx);
    return [wrap(kind, linear(kind, ctx, fakeQuant(layer.x, layer.s, layer.bits), layer.wq, layer.bias))];
  };
}

/**
 * A pg op in its forms (the pg domain's versions 1 and 2; the residual-gated ops exist from 2). Gated models are
 * written by pg only: no upgrade between them.
 */
function pgForms(
  op: string,
  kernel: (kind: Kind, form: Form) => Kernel,
  kind: Kind,
  forms: readonly Form[] = [1, INTEGER_ACCUMULATION_VERSION],
  tail?: OpDeclaration['tail'],
): OpDeclaration[] {
  return forms.map((since): OpDeclaration => ({ op, domain: PG_DOMAIN, since, cost: 'layer', kernel: kernel(kind, since), ...(tail ? { tail } : {}) }));
}

/**
 * While training, a gated conv runs the ReLU after it (PGConv) or the residual Add of its gate offset and the ReLU
 * (PGResidualConv) in its own passes (fused-conv.ts): the tfjs Add, ReLU and their gradients are not run.
 */
const RELU_TAIL = { kind: 'relu' } as const;
const RESIDUAL_TAIL = { kind: 'add-relu', offsetInput: 5 } as const;

/** pg's layers (org.precisiongating): what pg adds to the interpreter's ops (gating/op-registry.ts wires both). */
export const PG_OPS: readonly OpDeclaration[] = [
  ...pgForms(PG_CONV, gatedKernel, 'conv', undefined, RELU_TAIL),
  ...pgForms(PG_GEMM, gatedKernel, 'gemm'),
  ...pgForms(PG_CONV_RESIDUAL, gatedKernel, 'conv', [INTEGER_ACCUMULATION_VERSION], RESIDUAL_TAIL),
  ...pgForms(PG_GEMM_RESIDUAL, gatedKernel, 'gemm', [INTEGER_ACCUMULATION_VERSION]),
  ...pgForms(Q_CONV, quantKernel, 'conv'),
  ...pgForms(Q_GEMM, quantKernel, 'gemm'),
  // The MatMul form came with integer accumulation: no version-1 file has it.
  ...pgForms(PG_MATMUL, gatedKernel, 'matmul', [INTEGER_ACCUMULATION_VERSION]),
  ...pgForms(Q_MATMUL, quantKernel, 'matmul', [INTEGER_ACCUMULATION_VERSION]),
];
