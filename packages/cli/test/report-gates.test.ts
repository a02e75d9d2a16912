import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLED_TEST, FIXTURES, json, pg, tempDir } from './support/pg.js';
import { schemaErrors } from './support/schemas.js';

interface Layer {
  name: string;
  gated: boolean;
  bits: number | null;
  hbits: number | null;
  wbits: number | null;
  macs: number;
  input_signed: boolean;
  high_precision_fraction: number | null;
}
interface Cost {
  backend: string;
  total: number;
  per_layer: { name: string; cost: number }[];
  other_ops: { ops: number; cost: number };
  baselines: { static_b: number; static_8bit: number; seernet: number };
  ratios: Record<string, number>;
  profile: string;
  notes: string[];
}
interface Result {
  accuracy: number;
  layers: Layer[];
  other_ops: { op: string; nodes: number; ops: number }[];
  costs?: Cost[];
  whole_model: { bitops: number; bitops_vs_static_b: number; act_bits: number };
  sensitivity?: { layer: string; accuracy_full_precision: number; accuracy_prediction_only: number }[];
  gates?: { expression: string; value: number | null; failed: boolean }[];
}

let tmp: Awaited<ReturnType<typeof tempDir>>;
let gated: string;
const data = ['--data', BUNDLED_TEST, '--limit', '100'];

beforeAll(async () => {
  tmp = await tempDir();
  gated = join(tmp.dir, 'gated.onnx');
  // Dynamic scales need no calibration: the quickest gated model.
  const run = await pg(['convert', FIXTURES.tiny, '-o', gated, '--act-scale', 'dynamic', '--bits', '4', '--hbits', '2']);
  expect(run.code, run.stderr).toBe(0);
});
afterAll(async () => {
  await tmp.remove();
});

describe('pg report --cost and --fail-if', () => {
  it('prices the whole network on every bundled model, consistent with the measured layers; conditions that do not hold exit 0', async () => {
    const run = await pg([
      'report',
      gated,
      ...data,
      '--cost',
      'all',
      '--fail-if',
      'accuracy<1%',
      '--fail-if',
      'cost.bit-serial.vs_static_b>=1',
      '--fail-if',
      'whole_model.act_bits>16',
      '--json',
    ]);
    expect(run.code, run.stdout).toBe(0);
    const doc = json(run);
    expect(schemaErrors('envelope', doc)).toEqual([]);
    expect(schemaErrors('report', doc.result)).toEqual([]);
    expect(doc.status).toBe(0);
    const r = doc.result as Result;
    expect(r.gates!.map((g) => g.failed)).toEqual([false, false, false]);
    expect(r.gates![2].value).toBe(r.whole_model.act_bits);
    expect(r.costs!.map((c) => c.backend)).toEqual(['bit-serial', 'bit-fusion', 'gpu', 'cpu-int8']);
    for (const c of r.costs!) {
      expect(c.per_layer.map((l) => l.name)).toEqual(r.layers.map((l) => l.name));
      expect(c.profile).toBe(`bundled:${c.backend}`);
    }
    // Bit-serial recomputed from the report's own layer figures (float layers at the bundled float_bits = 16; 8-bit
    // weight codes with their sign, 9 bits; the stem reads the signed model input, the gated convs ReLU outputs).
    const bs = r.costs![0];
    expect(r.layers.map((l) => l.input_signed)).toEqual([true, false, false, false]);
    const sign = (l: Layer) => (l.input_signed ? 1 : 0);
    const expected = r.layers.map((l) =>
      l.bits === null
        ? l.macs * 256
        : l.gated
          ? l.macs * (l.wbits! + 1) * (l.hbits! + sign(l) + l.high_precision_fraction! * (l.bits - l.hbits!))
          : l.macs * (l.bits + sign(l)) * (l.wbits! + 1),
    );
    bs.per_layer.forEach((l, i) => expect(l.cost).toBeCloseTo(expected[i], 3));
    // The whole network: the other ops (tiny-cnn: 3 Relu, MaxPool 2x2, GlobalAveragePool, Flatten) at the bundled
    // 16 BitOps each, in the total and in every baseline alike.
    expect(r.other_ops.map((o) => [o.op, o.ops])).toEqual([
      ['Relu', 13328],
      ['MaxPool', 6272],
      ['GlobalAveragePool', 784],
      ['Flatten', 0],
    ]);
    for (const c of r.costs!) {
      expect(c.other_ops.ops).toBe(20384);
      expect(c.total).toBeCloseTo(c.per_layer.reduce((s, l) => s + l.cost, 0) + c.other_ops.cost, 6);
    }
    expect(bs.other_ops.cost).toBe(20384 * 16);
    // The whole-model headline is the bit-serial model's figure, printed with or without --cost.
    expect(r.whole_model.bitops).toBe(bs.total);
    expect(r.whole_model.bitops_vs_static_b).toBe(bs.ratios.vs_static_b);
    expect(bs.ratios.vs_static_b).toBeLessThan(1);
    expect(r.gates![1].value).toBe(bs.ratios.vs_static_b);
    expect(bs.baselines.seernet).toBeGreaterThan(bs.total);
    expect(r.costs![3].notes[0]).toMatch(/PG saves nothing/);
  });

  it('a failed gate exits 10 with status 10 and every gate in result.gates; a cost gate prices its model without --cost', async () => {
    const fail = await pg(['report', gated, ...data, '--fail-if', 'accuracy<1%', '--fail-if', 'sparsity>=0', '--fail-if', 'cost.gpu.total<0', '--json']);
    expect(fail.code).toBe(10);
    const doc = json(fail);
    expect(schemaErrors('envelope', doc)).toEqual([]);
    expect(schemaErrors('report', doc.result)).toEqual([]);
    expect(doc.status).toBe(10);
    const r = doc.result as Result;
    expect(r.gates!.map((g) => [g.expression, g.failed])).toEqual([
      ['accuracy<1%', false],
      ['sparsity>=0', true],
      ['cost.gpu.total<0', false],
    ]);
    expect(r.costs!.map((c) => c.backend)).toEqual(['gpu']);
  });

  it('text output: the cost table with a user profile replacing the bundled one, the full report, and the failed gate on stderr', async () => {
    const mine = join(tmp.dir, 'serial32.json');
    await writeFile(mine, JSON.stringify({ model: 'bit-serial', parameters: { float_bits: 32, other_op_bitops: 32 } }));
    const run = await pg(['report', gated, ...data, '--profile', mine, '--fail-if', 'sparsity>=0']);
    expect(run.code, run.stderr).toBe(10);
    expect(run.stdout).toMatch(/^accuracy\s+\d/m);
    expect(run.stdout).toMatch(/^cost model\s+unit\s+total\/sample\s+vs static B\s+vs static 8-bit\s+vs SeerNet/m);
    expect(run.stdout).toMatch(
      new RegExp(`^bit-serial\\s+bitops\\s+\\S+\\s+\\d\\.\\d{3}x\\s+\\d\\.\\d{3}x\\s+\\d\\.\\d{3}x\\s+${mine.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'),
    );
    expect(run.stdout).not.toMatch(/^gpu /m);
    expect(run.stderr).toMatch(/^Gate failed: sparsity>=0 \(sparsity = [\d.]+\)$/m);
  });

  it('usage errors (exit 2) before running: an invalid profile naming file and field, a malformed condition, accuracy_drop without --baseline', async () => {
    const bad = join(tmp.dir, 'bad.json');
    await writeFile(bad, JSON.stringify({ model: 'gpu', parameters: { macs_per_cycle: { '8': 100 }, sparse_efficiency: 2, float_bits: 16, other_ops_per_cycle: 6912 } }));
    const [profile, malformed, drop, removed] = await Promise.all([
      pg(['report', gated, ...data, '--profile', bad]),
      pg(['report', gated, ...data, '--fail-if', 'accuracy=>0.5']),
      pg(['report', gated, ...data, '--fail-if', 'accuracy_drop>1%']),
      pg(['report', gated, ...data, '--fail-if', 'compute_reduction<1.5']),
    ]);
    expect(profile.code).toBe(2);
    expect(profile.stderr).toContain(`Error [PG_USAGE]: ${bad}: parameters.sparse_efficiency must be a number in (0, 1], got 2`);
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toMatch(/^Error \[PG_USAGE\]: --fail-if 'accuracy=>0.5' is not a condition/m);
    expect(drop.code).toBe(2);
    expect(drop.stderr).toMatch(/--fail-if 'accuracy_drop>1%' needs --baseline/);
    expect(removed.code).toBe(2);
    expect(removed.stderr).toMatch(/^Error \[PG_USAGE\]: --fail-if 'compute_reduction<1\.5': the report has no field 'compute_reduction' any more/m);
    expect(removed.stderr).toMatch(/^Action: .*whole_model\.bitops_vs_static_b/m);
  });
});

describe('pg report --per-layer-sensitivity', () => {
  it('gives each gated layer its accuracy at full precision and at prediction bits only', async () => {
    const run = await pg(['report', gated, '--data', BUNDLED_TEST, '--limit', '64', '--per-layer-sensitivity', '--json']);
    expect(run.code, run.stdout).toBe(0);
    const doc = json(run);
    expect(schemaErrors('report', doc.result)).toEqual([]);
    const r = doc.result as Result;
    expect(r.sensitivity!.map((s) => s.layer)).toEqual(r.layers.filter((l) => l.gated).map((l) => l.name));
    // At 4/2 bits, B_hb alone is much coarser than B: dropping every update of a layer must not help more than opening them all.
    for (const s of r.sensitivity!) expect(s.accuracy_prediction_only).toBeLessThanOrEqual(s.accuracy_full_precision + 0.05);
  });
});
