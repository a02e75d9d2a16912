import type { LayerReport } from '@pg/core';
import { describe, expect, it } from 'vitest';
import type { Profile } from './profile.js';
import { reportPricing, wholeModel } from './whole-model.js';

const layer = (l: Partial<LayerReport> & Pick<LayerReport, 'name' | 'op' | 'macs'>): LayerReport => ({
  gated: false,
  bits: null,
  hbits: null,
  wbits: null,
  outputs: 1,
  high_precision_fraction: null,
  threshold: null,
  threshold_per_channel: null,
  input_signed: false,
  ...l,
});

// The hand-sized network of cost-models.test.ts: float stem (signed input), gated 3/2 with 9-bit weight codes
// and f = 0.25, static 3-bit with a signed input, float classifier; 4500 other operations per sample.
const NET: LayerReport[] = [
  layer({ name: 'stem', op: 'Conv', macs: 1000, input_signed: true }),
  layer({ name: 'g1', op: 'PGConv', gated: true, bits: 3, hbits: 2, wbits: 8, macs: 2000, outputs: 200, high_precision_fraction: 0.25 }),
  layer({ name: 'q2', op: 'QConv', bits: 3, wbits: 8, macs: 500, input_signed: true }),
  layer({ name: 'fc', op: 'Gemm', macs: 100 }),
];
const OTHER = [{ op: 'Relu', nodes: 3, ops: 4500 }];
const serial: Profile = { model: 'bit-serial', description: '', parameters: { float_bits: 16, other_op_bitops: 16 }, source: 'test' };

describe('whole-model figures', () => {
  it('MAC-weighted bits over every layer as stored, the gated share of MACs, and the bit-serial cost of the whole network', () => {
    const w = wholeModel({ layers: NET, other_ops: OTHER }, serial);
    expect(w.macs).toBe(3600);
    expect(w.gated_mac_fraction).toBeCloseTo(2000 / 3600, 12);
    // activation bits: stem 16, g1 2 + 0.25·1 = 2.25, q2 3 + sign = 4, fc 16
    expect(w.act_bits).toBeCloseTo((1000 * 16 + 2000 * 2.25 + 500 * 4 + 100 * 16) / 3600, 12);
    // weight bits: float 16, codes of --wbits 8 with their sign 9
    expect(w.weight_bits).toBeCloseTo((1000 * 16 + 2000 * 9 + 500 * 9 + 100 * 16) / 3600, 12);
    // cost-models.test.ts: layers 340100 BitOps, static B 353600, static 8-bit 441600, SeerNet 349100; + 4500·16 other ops
    expect(w.bitops).toBe(340100 + 72000);
    expect(w.bitops_vs_static_b).toBeCloseTo(412100 / 425600, 12);
    expect(w.bitops_vs_static_8bit).toBeCloseTo(412100 / 513600, 12);
    expect(w.bitops_vs_seernet).toBeCloseTo(412100 / 421100, 12);
    expect(w.profile).toBe('test');
  });

  it('a model without gated layers: share 0 and ratios 1 to static B and SeerNet; without layers: no bits', () => {
    const w = wholeModel({ layers: [NET[0], NET[2]], other_ops: OTHER }, serial);
    expect(w.gated_mac_fraction).toBe(0);
    expect([w.bitops_vs_static_b, w.bitops_vs_seernet]).toEqual([1, 1]);
    expect(w.act_bits).toBeCloseTo((1000 * 16 + 500 * 4) / 1500, 12);
    const none = wholeModel({ layers: [], other_ops: OTHER }, serial);
    expect(none).toMatchObject({ macs: 0, gated_mac_fraction: null, act_bits: null, weight_bits: null, bitops: 72000 });
  });

  it('pg report prices with the bit-serial profile given, else the bundled one; another model is refused', async () => {
    const given = (await reportPricing([serial]))({ layers: NET });
    expect(given.whole_model.profile).toBe('test');
    expect(given.costs?.map((c) => [c.backend, c.total])).toEqual([['bit-serial', given.whole_model.bitops]]);
    const bundled = (await reportPricing([]))({ layers: NET });
    expect(bundled.whole_model.profile).toBe('bundled:bit-serial');
    expect(bundled.costs).toBeUndefined();
    expect(() => wholeModel({ layers: NET }, { ...serial, model: 'gpu' })).toThrow(expect.objectContaining({ code: 'PG_USAGE' }));
  });
});
