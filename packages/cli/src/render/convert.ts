import type { LayerDecision } from '@pg/core';
import { renderTable } from './table.js';

interface BatchNormSummary {
  folded: { node: string; into: string; negative_scales: number }[];
  kept: { node: string; reason: string }[];
}

interface ConvertSummary {
  output: string;
  mode: string;
  bits: number;
  hbits: number | null;
  wbits: number;
  first_layer_bits: number | null;
  act_scale: string;
  calibrated: boolean;
  data: string | null;
  layers: LayerDecision[];
  batch_normalization: BatchNormSummary;
}

function treatment(l: LayerDecision): string {
  if (l.gated) return 'gated';
  return l.bits === null ? 'float' : 'quantized';
}

/** The per-layer decisions and a summary line, for `pg convert` without --json. */
export function renderConvert(r: ConvertSummary): string {
  const bitsOf = (l: LayerDecision): string =>
    l.bits === null ? '-' : `${l.bits}/${l.hbits ?? '-'}/${l.wbits === 32 ? 'float' : String(l.wbits)}${l.gate_mode === 'seernet' ? ' seernet' : ''}`;
  const table = renderTable(
    [{ header: 'layer' }, { header: 'op' }, { header: 'treatment' }, { header: 'bits/hbits/wbits' }, { header: 'reason' }],
    r.layers.map((l) => [l.name, l.op, treatment(l), bitsOf(l), l.reason]),
  );
  const n = (t: string): number => r.layers.filter((l) => treatment(l) === t).length;
  const scales =
    r.act_scale === 'dynamic'
      ? 'dynamic activation scales (per-sample max)'
      : r.calibrated
        ? `static activation scales calibrated on ${r.data ?? 'data'}`
        : "static activation scales, not yet calibrated ('pg finetune' calibrates them)";
  const summary =
    `Wrote ${r.output}: ${n('gated')} gated, ${n('quantized')} quantized, ${n('float')} float layer(s) ` +
    `at ${r.hbits === null ? r.bits : `${r.bits}/${r.hbits}`} bits (--mode ${r.mode}) with ${r.wbits === 32 ? 'float' : `${r.wbits}-bit`} weights` +
    // Only a Conv/Gemm reading the model input is a first layer (an LSTM reading it is gated).
    (r.first_layer_bits === null || !r.layers.some((l) => l.reason.startsWith('first layer')) ? '' : ` (the first layer at ${r.first_layer_bits} bits, activations and weights)`) +
    `; ${scales}.`;
  return [table, '', summary, ...batchNormLines(r.batch_normalization)].join('\n');
}

/** One line for the BatchNormalization folded, one per reason for those kept (counted, with an example). */
function batchNormLines(bn: BatchNormSummary): string[] {
  const lines: string[] = [];
  if (bn.folded.length > 0) {
    const negative = bn.folded.reduce((a, f) => a + f.negative_scales, 0);
    lines.push(`Folded ${bn.folded.length} BatchNormalization node(s) into the Conv/Gemm before them${negative > 0 ? ` (${negative} channel(s) with a negative scale)` : ''}.`);
  }
  const byReason = new Map<string, string[]>();
  for (const k of bn.kept) byReason.set(k.reason, [...(byReason.get(k.reason) ?? []), k.node]);
  for (const [reason, nodes] of byReason) {
    lines.push(`Kept ${nodes.length} BatchNormalization node(s) unfolded (e.g. '${nodes[0]}'): ${reason}.`);
  }
  return lines;
}
