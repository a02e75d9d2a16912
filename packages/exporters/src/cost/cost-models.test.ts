import type { LayerReport, OtherOpCount } from '@pg/core';
import { describe, expect, it } from 'vitest';
import { COST_MODELS, costReport, selectProfiles } from './registry.js';
import type { Profile } from './profile.js';

const layer = (l: Partial<LayerReport> & Pick<LayerReport, 'name' | 'op' | 'macs'>): LayerReport => ({
  gated: false,
  bits: null,
  hbits: null,
  wbits: null,
  outputs: 1,
  high_precision_fraction: null,
  threshold: null,
  threshold_per_channel: null,
  ...l,
});

/**
 * A hand-sized network: a float stem, one gated 3/2-bit layer with 8-bit weights whose gates opened for
 * a quarter of its outputs (f = 0.25, so B_lb = 1 bit for 500 of its 2000 MACs), one static 3-bit layer
 * and a float classifier.
 */
const NET: LayerReport[] = [
  layer({ name: 'stem', op: 'Conv', macs: 1000 }),
  layer({ name: 'g1', op: 'PGConv', gated: true, bits: 3, hbits: 2, wbits: 8, macs: 2000, outputs: 200, high_precision_fraction: 0.25 }),
  layer({ name: 'q2', op: 'QConv', bits: 3, wbits: 8, macs: 500 }),
  layer({ name: 'fc', op: 'Gemm', macs: 100 }),
];

const profile = (model: string, parameters: Profile['parameters']): Profile => ({ model, description: '', parameters, source: 'test' });

describe('cost models on a hand-computed network', () => {
  it('bit-serial: BitOps = MACs · b_a · b_w, gated layers at B_hb + f·B_lb', () => {
    const r = costReport({ layers: NET }, profile('bit-serial', { float_bits: 16 }));
    // stem 1000·16·16 = 256000; g1 2000·8·(2 + 0.25·1) = 36000; q2 500·3·8 = 12000; fc 100·16·16 = 25600
    expect(r.per_layer).toEqual([
      { name: 'stem', cost: 256000 },
      { name: 'g1', cost: 36000 },
      { name: 'q2', cost: 12000 },
      { name: 'fc', cost: 25600 },
    ]);
    expect(r.total).toBe(329600);
    expect(r.unit).toBe('bitops');
    // static_b: g1 2000·3·8 = 48000 → 341600; static 8-bit: g1 2000·64 = 128000, q2 500·64 = 32000 → 441600;
    // SeerNet: g1 2000·8·(2 + 0.25·3) = 44000 → 337600.
    expect(r.baselines).toEqual({ static_b: 341600, static_8bit: 441600, seernet: 337600 });
    expect(r.ratios.vs_static_b).toBeCloseTo(329600 / 341600, 12);
    expect(r.notes.join(' ')).toMatch(/stem, fc.*float_bits = 16/);
  });

  it('bit-fusion: brick ops ceil(b_a/2)·ceil(b_w/2) over the array, the update at its own utilisation', () => {
    // 2·2 PEs of 4 bricks = 16 bricks; dense at 0.5 → 8 brick ops/cycle; update at 0.25 → 4/cycle; float as 8 bits.
    const p = { brick_bits: 2, array_rows: 2, array_cols: 2, bricks_per_pe: 4, utilization: 0.5, update_utilization: 0.25, float_bits: 8 };
    const r = costReport({ layers: NET }, profile('bit-fusion', p));
    // stem 1000·4·4/8 = 2000; g1 prediction 2000·1·4/8 = 1000 + update 500·1·4/4 = 500 → 1500;
    // q2 500·2·4/8 = 500; fc 100·4·4/8 = 200.
    expect(r.per_layer.map((l) => l.cost)).toEqual([2000, 1500, 500, 200]);
    expect(r.total).toBe(4200);
    // static_b: g1 2000·2·4/8 = 2000 → 4700; static 8-bit: g1 2000·4·4/8 = 4000, q2 500·4·4/8 = 1000 → 7200;
    // SeerNet: g1 1000 + 500·2·4/4 = 2000 → 4700.
    expect(r.baselines).toEqual({ static_b: 4700, static_8bit: 7200, seernet: 4700 });
    expect(r.unit).toBe('cycles');
    expect(r.notes.join(' ')).toMatch(/not a multiple of brick_bits = 2 in 1 gated layer/);
  });

  it('gpu: dense prediction at the narrowest supported precision, SDDMM update at sparse_efficiency, and says when that is dearer than dense', () => {
    const r = costReport({ layers: NET }, profile('gpu', { macs_per_cycle: { '4': 100, '8': 50, '16': 25 }, sparse_efficiency: 0.2, float_bits: 16 }));
    // stem 1000/25 = 40; g1 prediction max(2, 8) → int8: 2000/50 = 40, update 500/(50·0.2) = 50 → 90; q2 500/50 = 10; fc 100/25 = 4.
    expect(r.per_layer.map((l) => l.cost)).toEqual([40, 90, 10, 4]);
    expect(r.total).toBe(144);
    // static_b and static 8-bit both run g1 and q2 at int8: 40 + 40 + 10 + 4 = 94; SeerNet's update is also int8 SDDMM: 144.
    expect(r.baselines).toEqual({ static_b: 94, static_8bit: 94, seernet: 144 });
    expect(r.notes.join(' ')).toMatch(/costs more than running the update densely in 1 of 1 gated layer\(s\).*g1 \(25\.0%\)/);
  });

  it('gpu: a gated layer with 4-bit weights predicts at int4, and no note when the update is sparse enough', () => {
    const net = [layer({ name: 'g', op: 'PGConv', gated: true, bits: 8, hbits: 4, wbits: 4, macs: 1000, high_precision_fraction: 0.1 })];
    const r = costReport({ layers: net }, profile('gpu', { macs_per_cycle: { '4': 100, '8': 50 }, sparse_efficiency: 0.2, float_bits: 16 }));
    // prediction int4: 1000/100 = 10; update max(4, 4) → int4 SDDMM: 100/(100·0.2) = 5 → 15. static_b: int8 1000/50 = 20.
    expect(r.total).toBe(15);
    expect(r.baselines.static_b).toBe(20);
    // SeerNet recomputes 100 MACs at 8 bits: 100/(50·0.2) = 10 → 20.
    expect(r.baselines.seernet).toBe(20);
    expect(r.notes.join(' ')).not.toMatch(/costs more than/);
  });

  it('cpu-int8: dense int8 whatever the gates do, and says PG saves nothing', () => {
    const r = costReport({ layers: NET }, profile('cpu-int8', { int8_macs_per_cycle: 10, float_macs_per_cycle: 5 }));
    // stem 1000/5 = 200; g1 2000/10 = 200 (dense, f ignored); q2 500/10 = 50; fc 100/5 = 20 → 470 in every scheme.
    expect(r.per_layer.map((l) => l.cost)).toEqual([200, 200, 50, 20]);
    expect(r.total).toBe(470);
    expect(r.baselines).toEqual({ static_b: 470, static_8bit: 470, seernet: 470 });
    expect(r.ratios).toEqual({ vs_static_b: 1, vs_static_8bit: 1, vs_seernet: 1 });
    expect(r.notes[0]).toMatch(/PG saves nothing/);
  });

  it('a model without gated layers costs the same as its static_b and SeerNet baselines, and says so', () => {
    const r = costReport({ layers: [NET[0], NET[2]] }, profile('bit-serial', { float_bits: 32 }));
    // 1000·32·32 + 12000 = 1036000
    expect(r.total).toBe(1036000);
    expect(r.baselines.static_b).toBe(r.total);
    expect(r.baselines.seernet).toBe(r.total);
    expect(r.notes.join(' ')).toMatch(/no gated layers/);
  });
});

describe('other ops: the whole network, the same in every scheme', () => {
  // Per sample: 3000 ReLU operations, a 2x2 MaxPool with 250 outputs (1000), a residual Add of 500 (500): 4500.
  const OTHER: OtherOpCount[] = [
    { op: 'Relu', nodes: 3, ops: 3000 },
    { op: 'MaxPool', nodes: 1, ops: 1000 },
    { op: 'Add', nodes: 1, ops: 500 },
    { op: 'Flatten', nodes: 1, ops: 0 },
  ];
  const cases: [string, Profile['parameters'], number][] = [
    // the layers' costs are those of the hand-computed tests above; other ops 4500 x 16 BitOps = 72000
    ['bit-serial', { float_bits: 16, other_op_bitops: 16 }, 72000],
    ['bit-fusion', { brick_bits: 2, array_rows: 2, array_cols: 2, bricks_per_pe: 4, utilization: 0.5, update_utilization: 0.25, float_bits: 8, other_ops_per_cycle: 9 }, 500],
    ['gpu', { macs_per_cycle: { '4': 100, '8': 50, '16': 25 }, sparse_efficiency: 0.2, float_bits: 16, other_ops_per_cycle: 45 }, 100],
    ['cpu-int8', { int8_macs_per_cycle: 10, float_macs_per_cycle: 5, other_ops_per_cycle: 15 }, 300],
  ];
  for (const [model, parameters, otherCost] of cases) {
    it(`${model}: adds ops x its per-device price to the total and to every baseline`, () => {
      const layersOnly = costReport({ layers: NET }, profile(model, parameters));
      const whole = costReport({ layers: NET, other_ops: OTHER }, profile(model, parameters));
      expect(whole.other_ops).toEqual({ ops: 4500, cost: otherCost });
      expect(whole.per_layer).toEqual(layersOnly.per_layer);
      expect(whole.total).toBeCloseTo(layersOnly.total + otherCost, 9);
      for (const b of ['static_b', 'static_8bit', 'seernet'] as const) expect(whole.baselines[b]).toBeCloseTo(layersOnly.baselines[b] + otherCost, 9);
      expect(whole.notes.join(' ')).toMatch(/other ops .*4500 operations per sample/);
      expect(layersOnly.notes.join(' ')).toMatch(/no count of the other ops/);
    });
  }
});

describe('bundled profiles', () => {
  it('one per cost model, each valid, selected in registry order by --cost all', async () => {
    const ps = await selectProfiles('all', []);
    expect(ps.map((p) => p.model)).toEqual([...COST_MODELS.keys()]);
    expect(ps.map((p) => p.source)).toEqual([...COST_MODELS.keys()].map((m) => `bundled:${m}`));
    for (const p of ps) expect(costReport({ layers: NET }, p).total).toBeGreaterThan(0);
  });

  it('a comma list picks those models; an unknown name is a usage error naming --cost', async () => {
    expect((await selectProfiles('gpu,bit-serial', [])).map((p) => p.model)).toEqual(['bit-serial', 'gpu']);
    await expect(selectProfiles('gpu,tpu', [])).rejects.toMatchObject({ code: 'PG_USAGE', message: expect.stringMatching(/--cost: unknown cost model 'tpu'/) });
  });
});
