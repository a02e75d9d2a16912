import { describe, expect, it } from 'vitest';
import { checkGates, gateCostModel, parseGate } from './gates.js';
import type { CostReport, ReportResult } from './report-types.js';

const MODELS = ['bit-serial', 'gpu'];

const cost = {
  backend: 'bit-serial',
  unit: 'bitops',
  total: 300,
  per_layer: [],
  baselines: { static_b: 400, static_8bit: 1000, seernet: 350 },
  ratios: { vs_static_b: 0.75, vs_static_8bit: 0.3, vs_seernet: 300 / 350 },
  profile: 'bundled:bit-serial',
  notes: [],
  other_ops: { ops: 0, cost: 0 },
} satisfies CostReport;
const whole = { act_bits: 5.25, bitops_vs_static_b: 0.84 };
const REPORT = { accuracy: 0.9, accuracy_drop: 0.012, bavg: 2.4, sparsity: 0.6, whole_model: whole, costs: [cost] } as unknown as ReportResult;

describe('--fail-if conditions', () => {
  it('parses FIELD OP NUMBER with every operator, spaces, exponents and a % suffix', () => {
    expect(parseGate('accuracy_drop>0.01', MODELS)).toEqual({ expression: 'accuracy_drop>0.01', field: 'accuracy_drop', op: '>', threshold: 0.01 });
    expect(parseGate(' bavg >= 2.5 ', MODELS)).toMatchObject({ field: 'bavg', op: '>=', threshold: 2.5 });
    expect(parseGate('accuracy_drop>1%', MODELS).threshold).toBeCloseTo(0.01, 15);
    expect(parseGate('sparsity<=5e-1', MODELS)).toMatchObject({ op: '<=', threshold: 0.5 });
    expect(parseGate('accuracy!=-1', MODELS)).toMatchObject({ op: '!=', threshold: -1 });
    expect(parseGate('samples==100', MODELS)).toMatchObject({ op: '==', threshold: 100 });
    const g = parseGate('cost.bit-serial.vs_static_8bit>0.5', MODELS);
    expect(g).toMatchObject({ field: 'cost.bit-serial.vs_static_8bit', op: '>', threshold: 0.5 });
    expect(gateCostModel(g)).toBe('bit-serial');
    expect(gateCostModel(parseGate('bavg<3', MODELS))).toBeUndefined();
    expect(parseGate('whole_model.act_bits>5', MODELS)).toMatchObject({ field: 'whole_model.act_bits', op: '>', threshold: 5 });
    expect(gateCostModel(parseGate('whole_model.bitops_vs_static_b>0.9', MODELS))).toBeUndefined();
  });

  it('refuses malformed conditions and unknown fields as usage errors naming --fail-if', () => {
    for (const [expr, msg] of [
      ['accuracy', /--fail-if 'accuracy' is not a condition/],
      ['accuracy=>0.9', /is not a condition/],
      ['accuracy>high', /is not a condition/],
      ['acuracy>0.9', /unknown field 'acuracy'/],
      ['cost.tpu.total>1', /unknown cost model 'tpu'/],
      ['cost.gpu.speed>1', /unknown cost field 'speed'/],
      ['whole_model.speed>1', /unknown field 'whole_model.speed'/],
    ] as const) {
      expect(() => parseGate(expr, MODELS)).toThrow(expect.objectContaining({ code: 'PG_USAGE', message: expect.stringMatching(msg) }));
    }
  });

  it('names what replaced a removed field', () => {
    expect(() => parseGate('compute_reduction<2', MODELS)).toThrow(
      expect.objectContaining({
        code: 'PG_USAGE',
        message: expect.stringMatching(/no field 'compute_reduction' any more/),
        action: expect.stringMatching(/whole_model\.bitops_vs_static_b/),
      }),
    );
  });

  it('a gate fails when its condition holds, or when the report has no value for its field', () => {
    const gates = [
      'accuracy_drop>1%',
      'bavg>2.5',
      'accuracy<0.9',
      'accuracy>=0.9',
      'cost.bit-serial.vs_static_8bit>0.25',
      'cost.bit-serial.total<=299',
      'whole_model.act_bits>5',
      'whole_model.bitops_vs_static_b<0.8',
      'whole_model.weight_bits>8',
      'cost.gpu.total>0',
    ].map((e) => parseGate(e, MODELS));
    expect(checkGates(REPORT, gates).map((c) => [c.expression, c.value, c.failed])).toEqual([
      ['accuracy_drop>1%', 0.012, true],
      ['bavg>2.5', 2.4, false],
      ['accuracy<0.9', 0.9, false],
      ['accuracy>=0.9', 0.9, true],
      ['cost.bit-serial.vs_static_8bit>0.25', 0.3, true],
      ['cost.bit-serial.total<=299', 300, false],
      ['whole_model.act_bits>5', 5.25, true],
      ['whole_model.bitops_vs_static_b<0.8', 0.84, false],
      ['whole_model.weight_bits>8', null, true],
      ['cost.gpu.total>0', null, true],
    ]);
  });

  it('compares within a relative 1e-9, so float noise in a difference does not decide a gate', () => {
    const r = { accuracy: 0.91, baseline_accuracy: 0.92, accuracy_drop: 0.92 - 0.91 } as unknown as ReportResult;
    expect(r.accuracy_drop).toBeGreaterThan(0.01); // 0.010000000000000009
    const check = (e: string) => checkGates(r, [parseGate(e, MODELS)])[0].failed;
    expect(check('accuracy_drop>1%')).toBe(false);
    expect(check('accuracy_drop>=1%')).toBe(true);
    expect(check('accuracy_drop==0.01')).toBe(true);
    expect(check('accuracy_drop!=0.01')).toBe(false);
    expect(check('accuracy_drop<1%')).toBe(false);
    expect(check('accuracy_drop>0.0099')).toBe(true);
  });
});
