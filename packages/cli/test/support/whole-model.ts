import type { LayerReport, OtherOpCount, WholeModel } from '@pg/core';
import { expect } from 'vitest';

/** The bundled bit-serial profile's float_bits and other_op_bitops (packages/exporters/profiles/bit-serial.json). */
const FLOAT_BITS = 16;
const OTHER_OP_BITOPS = 16;

/**
 * The whole-model figures recomputed from a report's own layers[] and other_ops[], written out from the
 * formulas in docs/report-fields.md and docs/cost-models.md ("Signs") without pg's code: widths as stored (a
 * signed input adds one bit to every code; weights are wbits + 1), float operands at float_bits.
 */
export function recomputeWholeModel(layers: readonly LayerReport[], otherOps: readonly OtherOpCount[]): Record<Exclude<keyof WholeModel, 'profile'>, number> {
  let macs = 0;
  let gatedMacs = 0;
  let act = 0;
  let weight = 0;
  const bitops = { model: 0, static_b: 0, static_8bit: 0, seernet: 0 };
  for (const l of layers) {
    const sign = l.input_signed ? 1 : 0;
    const f = l.high_precision_fraction ?? 1;
    const float = l.bits === null;
    const w = float || l.wbits === null || l.wbits >= 32 ? FLOAT_BITS : l.wbits + 1;
    const aStatic = float ? FLOAT_BITS : l.bits! + sign;
    const aSeernet = float ? FLOAT_BITS : l.gated ? l.hbits! + sign + f * (l.bits! + sign) : aStatic;
    // A layer in SeerNet's form (--mode seernet) recomputes its updated outputs at B bits: its own cost is SeerNet's.
    const a = float ? FLOAT_BITS : l.gated ? (l.gate_mode === 'seernet' ? aSeernet : l.hbits! + sign + f * (l.bits! - l.hbits!)) : l.bits! + sign;
    macs += l.macs;
    if (l.gated) gatedMacs += l.macs;
    act += l.macs * a;
    weight += l.macs * w;
    bitops.model += l.macs * a * w;
    bitops.static_b += l.macs * aStatic * w;
    bitops.static_8bit += float ? l.macs * FLOAT_BITS * FLOAT_BITS : l.macs * 8 * 8;
    bitops.seernet += l.macs * aSeernet * w;
  }
  const other = otherOps.reduce((s, o) => s + o.ops, 0) * OTHER_OP_BITOPS;
  const total = bitops.model + other;
  return {
    macs,
    gated_mac_fraction: gatedMacs / macs,
    act_bits: act / macs,
    weight_bits: weight / macs,
    bitops: total,
    bitops_vs_static_b: total / (bitops.static_b + other),
    bitops_vs_static_8bit: total / (bitops.static_8bit + other),
    bitops_vs_seernet: total / (bitops.seernet + other),
  };
}

/** Asserts a report's whole_model agrees with its layers[] (to 9 significant digits) and names the bundled profile. */
export function expectWholeModelFromLayers(r: { whole_model: WholeModel; layers: LayerReport[]; other_ops: OtherOpCount[] }): void {
  const expected = recomputeWholeModel(r.layers, r.other_ops);
  for (const [k, v] of Object.entries(expected)) expect(r.whole_model[k as keyof WholeModel], k).toBeCloseTo(v, 9 - Math.max(0, Math.ceil(Math.log10(Math.abs(v) + 1))));
  expect(r.whole_model.profile).toBe('bundled:bit-serial');
}
