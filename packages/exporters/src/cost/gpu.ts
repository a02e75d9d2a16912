import { UsageError } from '@pg/core';
import type { CostModel } from './cost-model.js';
import { bitWidth, predictionBits, storedBits, type Pass } from './work.js';

export interface GpuParameters {
  [k: string]: number | Record<string, number>;
  /** Dense MACs per cycle per supported precision, keyed by bits (e.g. {"4": ..., "8": ..., "16": ...}). */
  macs_per_cycle: Record<string, number>;
  /** Fraction of the dense throughput a sampled dense-dense product (SDDMM) reaches per useful MAC. */
  sparse_efficiency: number;
  /** Bits a float operand runs at (16: half precision). */
  float_bits: number;
  /** Element-wise operations per cycle (the other ops: pooling, adds, activations). */
  other_ops_per_cycle: number;
}

/** The narrowest supported precision that holds both operands: a GPU cannot run 3-bit arithmetic, only 4, 8, 16... */
export function gpuPrecision(pass: Pick<Pass, 'act' | 'weight'>, p: GpuParameters): number {
  const need = Math.max(bitWidth(pass.act, p.float_bits), bitWidth(pass.weight, p.float_bits));
  const fits = Object.keys(p.macs_per_cycle)
    .map(Number)
    .filter((b) => b >= need);
  if (!fits.length) {
    throw new UsageError(`the gpu profile's macs_per_cycle has no precision of ${need} bits or more`, {
      action: `add a "${need}" (or wider) entry to macs_per_cycle in the profile`,
    });
  }
  return Math.min(...fits);
}

/**
 * GPU: the prediction runs as a dense product at the narrowest supported precision, the update as a
 * sampled dense-dense product (SDDMM) over the updated outputs at sparse_efficiency of dense throughput.
 */
export const gpu: CostModel<GpuParameters> = {
  name: 'gpu',
  unit: 'cycles',
  summary: 'GPU: dense low-precision prediction + SDDMM update: cycles',
  parameters: {
    macs_per_cycle: { kind: 'bit-table', doc: 'dense MACs per cycle, keyed by precision in bits' },
    sparse_efficiency: { kind: 'positive', max: 1, doc: 'SDDMM throughput per useful MAC as a fraction of dense, in (0, 1]' },
    float_bits: { kind: 'integer', min: 1, max: 64, doc: 'bits a float operand runs at' },
    other_ops_per_cycle: { kind: 'positive', doc: 'operations per cycle of the other ops (pooling, adds, activations)' },
  },
  otherOpsCost: (ops, p) => ops / p.other_ops_per_cycle,
  passCost: (pass, p) => pass.macs / (p.macs_per_cycle[String(gpuPrecision(pass, p))] * (pass.sampled ? p.sparse_efficiency : 1)),
  notes: (layers, p) => {
    const notes = [
      `cycles = MACs / macs_per_cycle[narrowest precision >= max(b_a, b_w)] for the dense prediction, + f x MACs / (macs_per_cycle x sparse_efficiency) for the SDDMM update.`,
    ];
    // SDDMM over a fraction f at efficiency e costs f/e of a dense pass: dearer than dense once f > e.
    const dearer = layers.filter((l) => l.kind === 'gated' && l.updated > p.sparse_efficiency);
    if (dearer.length) {
      notes.push(
        `the SDDMM update costs more than running the update densely in ${dearer.length} of ${layers.filter((l) => l.kind === 'gated').length} gated layer(s) (updated fraction > sparse_efficiency = ${p.sparse_efficiency}): ${dearer.map((l) => `${l.name} (${(l.updated * 100).toFixed(1)}%)`).join(', ')}.`,
      );
    }
    const gated = layers.filter((l) => l.kind === 'gated');
    const same = gated.filter((l) => gpuPrecision({ act: predictionBits(l), weight: l.weight }, p) === gpuPrecision({ act: storedBits(l), weight: l.weight }, p));
    if (same.length)
      notes.push(
        `in ${same.length} gated layer(s) the prediction runs at the same GPU precision as the full B bits (the weights or the hardware set the width), so the prediction alone costs as much as the static model.`,
      );
    // The sign bit can push weights over a precision's width: --wbits 8 codes ([-255, 255]) do not fit int8.
    const pushed = layers.filter((l) => l.weight !== 'float' && gpuPrecision({ act: 1, weight: l.weight }, p) > gpuPrecision({ act: 1, weight: l.weight - 1 }, p));
    if (pushed.length)
      notes.push(
        `in ${pushed.length} layer(s) the weights' sign bit needs the next wider GPU precision (--wbits 8 codes are [-255, 255], 9 bits, wider than int8; --wbits 7 fits int8).`,
      );
    return notes;
  },
};
