import type { LayerReport, OtherOpCount } from '@pg/core';
import { describe, expect, it } from 'vitest';
import { COST_MODELS, costReport, selectProfiles } from './registry.js';
import type { Profile } from './profile.js';
import { reportPricing, wholeModel } from './whole-model.js';

const layer = (l: Partial<LayerReport> & Pick<LayerReport, 'name' | 'op' | 'macs'>): LayerReport => ({
  gated: false,
  gate: null,
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

/**
 * A hand-sized network: a float stem reading the (signed) model input; one gated 3/2-bit layer with 8-bit
 * weights (codes with a sign: 9 bits) reading a ReLU's output (unsigned), whose gates opened for a quarter of
 * its outputs (f = 0.25, so B_lb = 1 bit for 500 of its 2000 MACs); one static 3-bit layer reading a signed
 * input (3 magnitude bits and a sign: 4 bits); a float classifier.
 */
const NET: LayerReport[] = [
  layer({ name: 'stem', op: 'Conv', macs: 1000, input_signed: true }),
  layer({ name: 'g1', op: 'PGConv', gated: true, bits: 3, hbits: 2, wbits: 8, macs: 2000, outputs: 200, high_precision_fraction: 0.25 }),
  layer({ name: 'q2', op: 'QConv', bits: 3, wbits: 8, macs: 500, input_signed: true }),
  layer({ name: 'fc', op: 'Gemm', macs: 100 }),
];

const profile = (model: string, parameters: Profile['parameters']): Profile => ({ model, description: '', parameters, source: 'test' });

describe('cost models on a hand-computed network', () => {
  it('bit-serial: BitOps = MACs · b_a · b_w as stored (signs counted), gated layers at B_hb + f·B_lb', () => {
    const r = costReport({ layers: NET }, profile('bit-serial', { float_bits: 16 }));
    // stem 1000·16·16 = 256000; g1 2000·2·9 + 500·1·9 = 40500; q2 500·(3+1)·9 = 18000; fc 100·16·16 = 25600
    expect(r.per_layer).toEqual([
      { name: 'stem', cost: 256000 },
      { name: 'g1', cost: 40500 },
      { name: 'q2', cost: 18000 },
      { name: 'fc', cost: 25600 },
    ]);
    expect(r.total).toBe(340100);
    expect(r.unit).toBe('bitops');
    // static_b: g1 2000·3·9 = 54000 → 353600; static 8-bit (8-bit operands as stored): g1 2000·64 = 128000,
    // q2 500·64 = 32000 → 441600; SeerNet: g1 36000 + 500·3·9 = 49500 → 349100.
    expect(r.baselines).toEqual({ static_b: 353600, static_8bit: 441600, seernet: 349100 });
    expect(r.ratios.vs_static_b).toBeCloseTo(340100 / 353600, 12);
    expect(r.notes.join(' ')).toMatch(/stem, fc.*float_bits = 16/);
  });

  it("a layer in SeerNet's form (--mode seernet) costs the SeerNet scheme's passes in every cost model, so its ratio to that baseline is 1", () => {
    const seer = NET.map((l) => (l.gated ? { ...l, gate_mode: 'seernet' as const } : l));
    const pgForm = NET.map((l) => (l.gated ? { ...l, gate_mode: 'pg' as const } : l));
    const serial = costReport({ layers: seer }, profile('bit-serial', { float_bits: 16 }));
    // g1: prediction 2000·2·9 = 36000, the updated quarter recomputed at the full 3 bits: 500·3·9 = 13500.
    expect(serial.per_layer.find((l) => l.name === 'g1')!.cost).toBe(49500);
    expect(serial.total).toBe(349100);
    expect(serial.baselines.seernet).toBe(349100);
    expect(serial.notes.join(' ')).toMatch(/SeerNet's form .* stream the full B bits/);
    // gate_mode 'pg' costs what the same layer without a gate_mode does (340100 above).
    expect(costReport({ layers: pgForm }, profile('bit-serial', { float_bits: 16 })).total).toBe(340100);
    for (const [name, model] of COST_MODELS) {
      const p = profile(
        name,
        Object.fromEntries(
          Object.entries(model.parameters).map(([k, spec]) => [
            k,
            spec.kind === 'bit-table' ? { 4: 100, 8: 50, 16: 25, 32: 10 } : spec.kind === 'integer' ? Math.max(spec.min, 16) : 0.5,
          ]),
        ),
      );
      const r = costReport({ layers: seer }, p);
      expect(r.ratios.vs_seernet, name).toBeCloseTo(1, 12);
      expect(r.total, name).toBeGreaterThanOrEqual(costReport({ layers: pgForm }, p).total);
    }
  });

  it('the sign rule: a signed gated layer streams its sign with the prediction, so with every output updated it costs static B', () => {
    const g = (f: number) => [layer({ name: 'g', op: 'PGConv', gated: true, bits: 4, hbits: 2, wbits: 4, macs: 1000, high_precision_fraction: f, input_signed: true })];
    const half = costReport({ layers: g(0.5) }, profile('bit-serial', { float_bits: 16 }));
    // weights 4 + sign = 5 bits; prediction 1000·(2+1)·5 = 15000, update 500·2·5 = 5000; static B 1000·(4+1)·5 = 25000;
    // SeerNet 15000 + 500·5·5 = 27500.
    expect(half.total).toBe(20000);
    expect(half.baselines).toMatchObject({ static_b: 25000, seernet: 27500 });
    const all = costReport({ layers: g(1) }, profile('bit-serial', { float_bits: 16 }));
    expect(all.total).toBe(all.baselines.static_b);
    // The same layer reading an unsigned input: one bit less in the prediction and in static B.
    const unsigned = costReport({ layers: [{ ...g(0.5)[0], input_signed: false }] }, profile('bit-serial', { float_bits: 16 }));
    expect([unsigned.total, unsigned.baselines.static_b]).toEqual([15000, 20000]);
  });

  it('prices a layer gated on the residual sum (PGResidualConv) as a gated layer, in every cost model', async () => {
    const residual = NET.map((l) => (l.name === 'g1' ? { ...l, op: 'PGResidualConv', gate: 'residual' as const } : l));
    const profiles = await selectProfiles('all', []);
    expect(profiles).toHaveLength(COST_MODELS.size);
    for (const p of profiles) {
      const plain = costReport({ layers: NET }, p);
      const onSum = costReport({ layers: residual }, p);
      expect([onSum.total, onSum.baselines, onSum.per_layer.map((l) => l.cost)], p.model).toEqual([plain.total, plain.baselines, plain.per_layer.map((l) => l.cost)]);
    }
    const bitSerial = profiles.find((p) => p.model === 'bit-serial')!;
    expect(wholeModel({ layers: residual }, bitSerial).gated_mac_fraction).toBeCloseTo(2000 / 3600, 12);
  });

  it('bit-fusion: brick ops ceil(b_a/2)·ceil(b_w/2) over the array, the update at its own utilisation', () => {
    // 2·2 PEs of 4 bricks = 16 bricks; dense at 0.5 → 8 brick ops/cycle; update at 0.25 → 4/cycle; float as 8 bits.
    const p = { brick_bits: 2, array_rows: 2, array_cols: 2, bricks_per_pe: 4, utilization: 0.5, update_utilization: 0.25, float_bits: 8 };
    const r = costReport({ layers: NET }, profile('bit-fusion', p));
    // 9-bit weights take 5 bricks. stem 1000·4·4/8 = 2000; g1 prediction 2000·1·5/8 = 1250 + update 500·1·5/4 = 625
    // → 1875; q2 (4 bits with its sign) 500·2·5/8 = 625; fc 100·4·4/8 = 200.
    expect(r.per_layer.map((l) => l.cost)).toEqual([2000, 1875, 625, 200]);
    expect(r.total).toBe(4700);
    // static_b: g1 2000·2·5/8 = 2500 → 5325; static 8-bit: g1 2000·4·4/8 = 4000, q2 500·4·4/8 = 1000 → 7200;
    // SeerNet: g1 1250 + 500·2·5/4 = 1250 → 5325.
    expect(r.baselines).toEqual({ static_b: 5325, static_8bit: 7200, seernet: 5325 });
    expect(r.unit).toBe('cycles');
    expect(r.notes.join(' ')).toMatch(/not a multiple of brick_bits = 2 in 1 gated layer/);
  });

  it('gpu: dense prediction at the narrowest supported precision, SDDMM update at sparse_efficiency, and says when that is dearer than dense', () => {
    const r = costReport({ layers: NET }, profile('gpu', { macs_per_cycle: { '4': 100, '8': 50, '16': 25 }, sparse_efficiency: 0.2, float_bits: 16 }));
    // 9-bit weights run at 16 bits. stem 1000/25 = 40; g1 prediction 2000/25 = 80, update 500/(25·0.2) = 100 → 180;
    // q2 500/25 = 20; fc 100/25 = 4.
    expect(r.per_layer.map((l) => l.cost)).toEqual([40, 180, 20, 4]);
    expect(r.total).toBe(244);
    // static_b: g1 at 16 bits 80 → 144; static 8-bit: g1 2000/50 = 40, q2 500/50 = 10 → 94; SeerNet's update is the same SDDMM: 244.
    expect(r.baselines).toEqual({ static_b: 144, static_8bit: 94, seernet: 244 });
    const notes = r.notes.join(' ');
    expect(notes).toMatch(/costs more than running the update densely in 1 of 1 gated layer\(s\).*g1 \(25\.0%\)/);
    expect(notes).toMatch(/in 2 layer\(s\) the weights' sign bit needs the next wider GPU precision/);
  });

  it('gpu: a gated layer with 4-bit weight codes (--wbits 3) predicts at int4; a signed input pushes it to int8', () => {
    const g = layer({ name: 'g', op: 'PGConv', gated: true, bits: 8, hbits: 4, wbits: 3, macs: 1000, high_precision_fraction: 0.1 });
    const p = profile('gpu', { macs_per_cycle: { '4': 100, '8': 50, '16': 25 }, sparse_efficiency: 0.2, float_bits: 16 });
    const r = costReport({ layers: [g] }, p);
    // prediction int4: 1000/100 = 10; update max(4, 4) → int4 SDDMM: 100/(100·0.2) = 5 → 15. static_b: int8 1000/50 = 20.
    expect(r.total).toBe(15);
    expect(r.baselines.static_b).toBe(20);
    // SeerNet recomputes 100 MACs at 8 bits: 100/(50·0.2) = 10 → 20.
    expect(r.baselines.seernet).toBe(20);
    expect(r.notes.join(' ')).not.toMatch(/costs more than|sign bit/);
    // 4 magnitude bits and a sign: the prediction runs at int8, 1000/50 = 20, + the update 5.
    expect(costReport({ layers: [{ ...g, input_signed: true }] }, p).total).toBe(25);
  });

  it('cpu-int8: dense int8 whatever the gates do, says PG saves nothing, and runs 9-bit weight codes in float', () => {
    const r = costReport({ layers: NET }, profile('cpu-int8', { int8_macs_per_cycle: 10, float_macs_per_cycle: 5 }));
    // 9-bit weights do not fit int8: stem 1000/5 = 200; g1 2000/5 = 400 (dense, f ignored); q2 500/5 = 100; fc 100/5 = 20 → 720.
    expect(r.per_layer.map((l) => l.cost)).toEqual([200, 400, 100, 20]);
    expect(r.total).toBe(720);
    // static 8-bit: g1 2000/10 = 200, q2 500/10 = 50 → 470.
    expect(r.baselines).toEqual({ static_b: 720, static_8bit: 470, seernet: 720 });
    expect(r.ratios).toMatchObject({ vs_static_b: 1, vs_seernet: 1 });
    expect(r.notes[0]).toMatch(/PG saves nothing/);
    expect(r.notes.join(' ')).toMatch(/2 quantized layer\(s\).*wider than 8 bits.*--wbits 7 fits int8\): g1, q2/);
    // --wbits 7 (8-bit codes) with 3-bit unsigned inputs fit int8: g1 2000/10 = 200, and the signed q2 (4 bits) too: 50.
    const narrow = NET.map((l) => (l.wbits === null ? l : { ...l, wbits: 7 }));
    expect(costReport({ layers: narrow }, profile('cpu-int8', { int8_macs_per_cycle: 10, float_macs_per_cycle: 5 })).total).toBe(470);
  });

  it('a model without gated layers costs the same as its static_b and SeerNet baselines, and says so', () => {
    const r = costReport({ layers: [NET[0], NET[2]] }, profile('bit-serial', { float_bits: 32 }));
    // 1000·32·32 + 18000 = 1042000
    expect(r.total).toBe(1042000);
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

// Whole-model figures of the hand-sized network above, with 4500 other operations per sample.
const RELUS = [{ op: 'Relu', nodes: 3, ops: 4500 }];
const serial: Profile = { model: 'bit-serial', description: '', parameters: { float_bits: 16, other_op_bitops: 16 }, source: 'test' };

describe('whole-model figures', () => {
  it('MAC-weighted bits over every layer as stored, the gated share of MACs, and the bit-serial cost of the whole network', () => {
    const w = wholeModel({ layers: NET, other_ops: RELUS }, serial);
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
    const w = wholeModel({ layers: [NET[0], NET[2]], other_ops: RELUS }, serial);
    expect(w.gated_mac_fraction).toBe(0);
    expect([w.bitops_vs_static_b, w.bitops_vs_seernet]).toEqual([1, 1]);
    expect(w.act_bits).toBeCloseTo((1000 * 16 + 500 * 4) / 1500, 12);
    const none = wholeModel({ layers: [], other_ops: RELUS }, serial);
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
