import type { CostModel } from './cost-model.js';
import { bitWidth, predictionBits, type Precision } from './work.js';

export interface BitFusionParameters {
  [k: string]: number;
  /** Bits of one brick multiplier (2 in Bit Fusion). */
  brick_bits: number;
  array_rows: number;
  array_cols: number;
  /** Bricks in one processing element (Bit Fusion's Fusion Unit has 16). */
  bricks_per_pe: number;
  /** Fraction of the bricks doing useful work in a dense pass. */
  utilization: number;
  /** The same for the update, which gathers the scattered updated outputs. */
  update_utilization: number;
  /** Integer width a float operand is run at (the array has no floating point). */
  float_bits: number;
  /** Operations per cycle of the unit that runs the other ops (pooling, adds, activations). */
  other_ops_per_cycle: number;
}

const bricksOf = (b: Precision, p: BitFusionParameters) => Math.ceil(bitWidth(b, p.float_bits) / p.brick_bits);

/**
 * Decomposable-precision systolic array (Bit Fusion, Sharma et al. ISCA 2018): a b_a × b_w multiply takes
 * ceil(b_a/brick_bits) · ceil(b_w/brick_bits) brick operations, and the array does
 * array_rows · array_cols · bricks_per_pe · utilization of them per cycle.
 */
export const bitFusion: CostModel<BitFusionParameters> = {
  name: 'bit-fusion',
  unit: 'cycles',
  summary: 'decomposable-precision systolic array (2-bit bricks, Bit Fusion-like): cycles',
  parameters: {
    brick_bits: { kind: 'integer', min: 1, max: 16, doc: 'bits of one brick multiplier' },
    array_rows: { kind: 'integer', min: 1, doc: 'processing-element rows' },
    array_cols: { kind: 'integer', min: 1, doc: 'processing-element columns' },
    bricks_per_pe: { kind: 'integer', min: 1, doc: 'bricks per processing element' },
    utilization: { kind: 'positive', max: 1, doc: 'fraction of bricks busy in a dense pass, in (0, 1]' },
    update_utilization: { kind: 'positive', max: 1, doc: 'fraction of bricks busy in the sampled update, in (0, 1]' },
    float_bits: { kind: 'integer', min: 1, max: 64, doc: 'integer width float operands run at' },
    other_ops_per_cycle: { kind: 'positive', doc: 'operations per cycle of the unit running the other ops (pooling, adds, activations)' },
  },
  otherOpsCost: (ops, p) => ops / p.other_ops_per_cycle,
  passCost: (pass, p) => {
    const perCycle = p.array_rows * p.array_cols * p.bricks_per_pe * (pass.sampled ? p.update_utilization : p.utilization);
    return (pass.macs * bricksOf(pass.act, p) * bricksOf(pass.weight, p)) / perCycle;
  },
  notes: (layers, p) => {
    const notes = [
      `cycles = MACs x ceil(b_a/${p.brick_bits}) x ceil(b_w/${p.brick_bits}) / (array_rows x array_cols x bricks_per_pe x utilization); the update runs only the updated outputs at update_utilization = ${p.update_utilization}.`,
    ];
    const gated = layers.filter((l) => l.kind === 'gated');
    // Rounding up to whole bricks can eat the saving: 3/2 bits predicts in 1 brick and updates in 1 brick, the same as a static 3-bit (2 bricks) once every output updates.
    const wasted = gated.filter((l) => predictionBits(l) % p.brick_bits !== 0 || (l.bits! - l.hbits!) % p.brick_bits !== 0);
    if (wasted.length)
      notes.push(
        `B_hb (with the sign of a signed input) or B_lb is not a multiple of brick_bits = ${p.brick_bits} in ${wasted.length} gated layer(s): their bricks are partly idle.`,
      );
    return notes;
  },
};
