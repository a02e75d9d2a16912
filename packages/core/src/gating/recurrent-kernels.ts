import * as tf from '@tensorflow/tfjs-core';
import { UnsupportedModelError } from '../errors/index.js';
import { attrInt, attrString } from '../interpreter/attributes.js';
import type { Kernel, KernelContext } from '../interpreter/kernel.js';
import type { OpDeclaration } from '../interpreter/op-declaration.js';
import { recurrentKernel } from '../interpreter/ops/recurrent.js';
import type { RtValue } from '../interpreter/value.js';
import { INTEGER_ACCUMULATION_VERSION, PG_DOMAIN, PG_LSTM, Q_LSTM, RECURRENT_GATE_RULE_ATTR } from './format.js';
import { OBSERVE, SETTINGS } from './kernels.js';
import { gateStatistic, gatedLstmProducts, isRecurrentGateRule, type RecurrentGateLayer } from './recurrent-gate.js';

// The kernels of pg's recurrent layers: PGLSTM (gated per unit and step) and QLSTM (B-bit activations, no gate),
// ONNX's LSTM recurrence with pg's products (recurrent-gate.ts). Inputs: LSTM's eight, then (PGLSTM) Threshold
// [D, 4·H], then ActScale (x's static scale). h is quantized with the fixed scale 1 (h lies in (−1, 1)).

/** The node's settings and its trained tensors (threshold, scale), checked. */
function layerOf(inputs: (RtValue | undefined)[], ctx: KernelContext, gated: boolean): RecurrentGateLayer {
  const { node } = ctx;
  const missing = (what: string) => new UnsupportedModelError(`node '${node.name}' (${node.opType}): ${what}`, { action: 'convert the float model again with pg convert' });
  const bits = attrInt(node, 'bits');
  const wbits = attrInt(node, 'wbits');
  const hbits = gated ? attrInt(node, 'hbits') : bits;
  if (bits === undefined || wbits === undefined || hbits === undefined) throw missing('attributes bits, wbits (and hbits when gated) are required');
  const rule = attrString(node, RECURRENT_GATE_RULE_ATTR, 'knee');
  if (!isRecurrentGateRule(rule)) throw missing(`${RECURRENT_GATE_RULE_ATTR} '${rule}' is none of above, magnitude, knee`);
  const delta = gated ? inputs[8] : undefined;
  const scale = inputs[gated ? 9 : 8];
  if ((gated && !delta) || !scale) throw missing(gated ? 'missing Threshold (input 8) or ActScale (input 9)' : 'missing ActScale (input 8)');
  const surrogate = ctx.training ? { alpha: Number(ctx.settings[SETTINGS.alpha] ?? 5), sparseBackprop: ctx.settings[SETTINGS.sparseBackprop] === true } : undefined;
  return { bits, hbits, wbits, inputScale: scale.t, stateScale: 1, rule, delta: delta?.t as tf.Tensor2D | undefined, surrogate };
}

/**
 * A gated or quantized LSTM. Observers get what they get from a gated conv, laid out [N, T, D, 4·H] (a decision
 * map draws T by D positions of 4·H channels): the statistic the gate compares with Δ, the gate M, and x.
 */
function pgLstmKernel(gated: boolean): Kernel {
  return (inputs, ctx) => {
    const { node, observer: obs } = ctx;
    const layer = layerOf(inputs, ctx, gated);
    const wants = { prediction: !!obs?.wants(node, OBSERVE.prediction), gate: !!obs?.wants(node, OBSERVE.gate) };
    const steps: { g: tf.Tensor2D[][]; m: tf.Tensor2D[][] } = { g: [], m: [] };
    if (gated && (wants.prediction || wants.gate)) {
      layer.record = (d, zhb, m, t) => {
        (steps.g[d] ??= [])[t] = zhb;
        (steps.m[d] ??= [])[t] = m;
      };
    }
    const out = recurrentKernel('lstm', 14, (_spec, ins, d) => {
      if (d === 0 && obs?.wants(node, OBSERVE.input)) obs.observe?.(node, OBSERVE.input, ins.x);
      return gatedLstmProducts(layer, ins, d);
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
    if (wants.gate && steps.m.length) obs!.observe?.(node, OBSERVE.gate, byPosition(steps.m));
    return out;
  };
}

/** PGLSTM and QLSTM, declared from the pg domain's version 2 (the first with recurrent layers' files). */
export const PG_RECURRENT_OPS: readonly OpDeclaration[] = [
  { op: PG_LSTM, domain: PG_DOMAIN, since: INTEGER_ACCUMULATION_VERSION, cost: 'layer', kernel: pgLstmKernel(true) },
  { op: Q_LSTM, domain: PG_DOMAIN, since: INTEGER_ACCUMULATION_VERSION, cost: 'layer', kernel: pgLstmKernel(false) },
];
