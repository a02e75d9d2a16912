import * as tf from '@tensorflow/tfjs-core';
import { UnsupportedModelError } from '../errors/index.js';
import { attrInt, attrString } from '../interpreter/attributes.js';
import type { Kernel, KernelContext } from '../interpreter/kernel.js';
import type { OpDeclaration } from '../interpreter/op-declaration.js';
import { recurrentKernel } from '../interpreter/ops/recurrent.js';
import type { RtValue } from '../interpreter/value.js';
import { INTEGER_ACCUMULATION_VERSION, PG_DOMAIN, PG_RECURRENT_FORMS, RECURRENT_GATE_RULE_ATTR, type GatedRecurrentOp } from './format.js';
import { OBSERVE, SETTINGS, observeGate, wantsGate } from './kernels.js';
import { DEFAULT_RECURRENT_GATE_RULE, RECURRENT_GATE_RULES, gateStatistic, gatedProducts, isRecurrentGateRule, type RecurrentGateLayer } from './recurrent-gate.js';

// The kernels of pg's recurrent layers: PGLSTM/PGGRU (gated per unit and step) and QLSTM/QGRU (B-bit activations,
// no gate), ONNX's LSTM/GRU recurrence with pg's products (recurrent-gate.ts). Inputs: the ONNX op's (LSTM eight,
// GRU six), then (gated) Threshold [D, G·H], then ActScale (x's static scale). h is quantized with the fixed scale 1
// (h lies in (−1, 1)).

/** The node's settings and its trained tensors (threshold, scale), checked. */
function layerOf(inputs: (RtValue | undefined)[], ctx: KernelContext, op: GatedRecurrentOp, gated: boolean): RecurrentGateLayer {
  const { node } = ctx;
  const missing = (what: string) => new UnsupportedModelError(`node '${node.name}' (${node.opType}): ${what}`, { action: 'convert the float model again with pg convert' });
  const bits = attrInt(node, 'bits');
  const wbits = attrInt(node, 'wbits');
  const hbits = gated ? attrInt(node, 'hbits') : bits;
  if (bits === undefined || wbits === undefined || hbits === undefined) throw missing('attributes bits, wbits (and hbits when gated) are required');
  const rule = attrString(node, RECURRENT_GATE_RULE_ATTR, DEFAULT_RECURRENT_GATE_RULE);
  if (!isRecurrentGateRule(rule)) throw missing(`${RECURRENT_GATE_RULE_ATTR} '${rule}' is none of ${RECURRENT_GATE_RULES.join(', ')}`);
  const own = PG_RECURRENT_FORMS[op].inputs;
  const delta = gated ? inputs[own] : undefined;
  const scale = inputs[gated ? own + 1 : own];
  if ((gated && !delta) || !scale) throw missing(gated ? `missing Threshold (input ${own}) or ActScale (input ${own + 1})` : `missing ActScale (input ${own})`);
  const surrogate = ctx.training ? { alpha: Number(ctx.settings[SETTINGS.alpha] ?? 5), sparseBackprop: ctx.settings[SETTINGS.sparseBackprop] === true } : undefined;
  return { bits, hbits, wbits, inputScale: scale.t, stateScale: 1, rule, delta: delta?.t as tf.Tensor2D | undefined, surrogate };
}

/**
 * A gated or quantized LSTM/GRU. Observers get what they get from a gated conv, laid out [N, T, D, G·H] (a decision
 * map draws T by D positions of G·H channels): the statistic the gate compares with Δ, the gate M, and x.
 */
function pgRecurrentKernel(op: GatedRecurrentOp, gated: boolean): Kernel {
  return (inputs, ctx) => {
    const { node, observer: obs } = ctx;
    const layer = layerOf(inputs, ctx, op, gated);
    const wants = { prediction: !!obs?.wants(node, OBSERVE.prediction), gate: wantsGate(obs, node) };
    const steps: { g: tf.Tensor2D[][]; m: tf.Tensor2D[][] } = { g: [], m: [] };
    if (gated && (wants.prediction || wants.gate)) {
      layer.record = (d, zhb, m, t) => {
        (steps.g[d] ??= [])[t] = zhb;
        (steps.m[d] ??= [])[t] = m;
      };
    }
    const out = recurrentKernel(op === 'LSTM' ? 'lstm' : 'gru', 14, (_spec, ins, d) => {
      if (d === 0 && obs?.wants(node, OBSERVE.input)) obs.observe?.(node, OBSERVE.input, ins.x);
      return gatedProducts(layer, ins, d);
    })(inputs, ctx);
    const byPosition = (perStep: tf.Tensor2D[][]) =>
      tf.transpose(
        tf.stack(
          perStep.map((ts) => tf.stack(ts)),
          2,
        ),
        [1, 0, 2, 3],
      );
    if (wants.prediction && steps.g.length) obs!.observe?.(node, OBSERVE.prediction, gateStatistic(layer.rule, byPosition(steps.g)));
    if (wants.gate && steps.m.length) observeGate(obs, node, byPosition(steps.m));
    return out;
  };
}

/** PGLSTM, QLSTM, PGGRU and QGRU, declared from the pg domain's version 2 (the first with recurrent layers' files). */
export const PG_RECURRENT_OPS: readonly OpDeclaration[] = (Object.keys(PG_RECURRENT_FORMS) as GatedRecurrentOp[]).flatMap((op) => [
  { op: PG_RECURRENT_FORMS[op].gated, domain: PG_DOMAIN, since: INTEGER_ACCUMULATION_VERSION, cost: 'layer' as const, kernel: pgRecurrentKernel(op, true) },
  { op: PG_RECURRENT_FORMS[op].quantized, domain: PG_DOMAIN, since: INTEGER_ACCUMULATION_VERSION, cost: 'layer' as const, kernel: pgRecurrentKernel(op, false) },
]);
