import type { CostModel } from './cost-model.js';
import { bitWidth } from './work.js';

export interface BitSerialParameters {
  [k: string]: number;
  /** Bits a float operand (float layers, float weights) occupies on the device, e.g. 16 or 32. */
  float_bits: number;
  /** BitOps of one operation of the other ops (an add, compare or activation on float_bits-wide values). */
  other_op_bitops: number;
}

/**
 * Bit-serial accelerator (Stripes/Loom-like): time and energy grow with the activation bits streamed
 * through each multiply. BitOps = MACs · activation bits · weight bits (as stored, signs included), so a gated
 * layer costs MACs · w · (B_hb + sign + f · B_lb) and PG saves in proportion to B_avg.
 */
export const bitSerial: CostModel<BitSerialParameters> = {
  name: 'bit-serial',
  unit: 'bitops',
  summary: 'bit-serial accelerator: BitOps = MACs x activation bits x weight bits',
  parameters: {
    float_bits: { kind: 'integer', min: 1, max: 64, doc: 'bits of a float operand (float layers and float weights)' },
    other_op_bitops: { kind: 'positive', doc: 'BitOps of one operation of the other ops (pooling, adds, activations)' },
  },
  otherOpsCost: (ops, p) => ops * p.other_op_bitops,
  passCost: (pass, p) => pass.macs * bitWidth(pass.act, p.float_bits) * bitWidth(pass.weight, p.float_bits),
  notes: (layers, p) => {
    const notes = [
      'BitOps = MACs x activation bits x weight bits, as stored (a signed code counts its sign bit); a gated layer streams B_hb bits (and the sign) for every output and B_lb more for the updated ones.',
    ];
    if (layers.some((l) => l.recompute))
      notes.push("layers in SeerNet's form (pg convert --mode seernet) stream the full B bits (and the sign) again for the updated outputs, the seernet scheme's passes.");
    const float = layers.filter((l) => l.kind === 'float').map((l) => l.name);
    if (float.length) notes.push(`float layers (${float.join(', ')}) counted at float_bits = ${p.float_bits} for activations and weights.`);
    return notes;
  },
};
