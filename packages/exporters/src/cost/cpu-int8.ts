import type { CostModel } from './cost-model.js';
import { passes, storedBits, type LayerWork, type Pass, type Scheme } from './work.js';

export interface CpuInt8Parameters {
  [k: string]: number;
  int8_macs_per_cycle: number;
  float_macs_per_cycle: number;
  /** Operations per cycle of the other ops (pooling, adds, activations), vectorised float. */
  other_ops_per_cycle: number;
}

/**
 * Dense int8 CPU: the baseline where PG saves nothing. Every quantized layer whose operands fit 8 bits as
 * stored (sign included) runs as a dense int8 product whatever its gates decide (a CPU has no cheaper narrow
 * arithmetic and gathering the updated outputs costs more than it saves); wider or float layers run in float.
 */
export const cpuInt8: CostModel<CpuInt8Parameters> = {
  name: 'cpu-int8',
  unit: 'cycles',
  summary: 'dense int8 CPU: cycles; gating saves nothing here',
  parameters: {
    int8_macs_per_cycle: { kind: 'positive', doc: 'dense int8 MACs per cycle' },
    float_macs_per_cycle: { kind: 'positive', doc: 'float MACs per cycle, for float layers and layers wider than 8 bits' },
    other_ops_per_cycle: { kind: 'positive', doc: 'operations per cycle of the other ops (pooling, adds, activations)' },
  },
  otherOpsCost: (ops, p) => ops / p.other_ops_per_cycle,
  // Gating changes nothing here: every scheme but static 8-bit runs the layer as its static B-bit product.
  layerPasses: (l: LayerWork, scheme: Scheme): Pass[] => passes(l, scheme === 'static_8bit' ? 'static_8bit' : 'static_b'),
  passCost: (pass, p) => {
    const int8 = pass.act !== 'float' && pass.weight !== 'float' && pass.act <= 8 && pass.weight <= 8;
    return pass.macs / (int8 ? p.int8_macs_per_cycle : p.float_macs_per_cycle);
  },
  notes: (layers) => {
    const notes = [
      'PG saves nothing on a dense int8 CPU: every layer runs densely at int8 whatever its gates decide, so the cost equals the static int8 model and the SeerNet-style baseline.',
    ];
    const wide = layers.filter((l) => l.kind !== 'float' && (l.weight === 'float' || l.weight > 8 || storedBits(l) > 8));
    if (wide.length) {
      notes.push(
        `${wide.length} quantized layer(s) have float weights or operands wider than 8 bits with their sign and run in float (--wbits 8 weights are 9-bit codes, [-255, 255]; --wbits 7 fits int8): ${wide.map((l) => l.name).join(', ')}.`,
      );
    }
    return notes;
  },
};
