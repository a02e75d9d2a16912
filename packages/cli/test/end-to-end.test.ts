import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLED_TEST, BUNDLED_TRAIN, FIXTURES, json, pg, tempDir } from './support/pg.js';
import { schemaErrors } from './support/schemas.js';
import { expectWholeModelFromLayers } from './support/whole-model.js';
import type { ReportJson } from '../src/report-format.js';

let tmp: Awaited<ReturnType<typeof tempDir>>;
beforeAll(async () => {
  tmp = await tempDir();
});
afterAll(async () => {
  await tmp.remove();
});

// The three commands on the bundled ResNet, with a few steps instead of an epoch. The steps
// depend on each other, so the tests run in order and share files.
describe('convert -> finetune -> report on the bundled ResNet', () => {
  const gated = (): string => join(tmp.dir, 'gated.onnx');
  const tuned = (): string => join(tmp.dir, 'tuned.onnx');

  it('convert --bits 4 --hbits 2 --wbits 8', async () => {
    const run = await pg(['convert', FIXTURES.resnet, '-o', gated(), '--bits', '4', '--hbits', '2', '--wbits', '8', '--json']);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(schemaErrors('convert', json(run).result)).toEqual([]);
  });

  it('finetune --max-steps 3 --batch-size 32 --target-sparsity 0.85 --seed 1 --json', async () => {
    const run = await pg([
      'finetune',
      gated(),
      '--data',
      BUNDLED_TRAIN,
      '-o',
      tuned(),
      '--epochs',
      '1',
      '--max-steps',
      '3',
      '--batch-size',
      '32',
      '--target-sparsity',
      '0.85',
      '--seed',
      '1',
      '--json',
    ]);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    // No terminal and --json: no progress anywhere, only the JSON document.
    expect(run.stderr).toBe('');
    const doc = json(run);
    expect(schemaErrors('envelope', doc)).toEqual([]);
    expect(schemaErrors('finetune', doc.result)).toEqual([]);
    const r = doc.result as { steps: number; step_ms_median: number; final_loss: number; calibrated: { thresholds: boolean }; output: string; data: string };
    expect(r.steps).toBe(3);
    expect(r.step_ms_median).toBeGreaterThan(0);
    expect(Number.isFinite(r.final_loss)).toBe(true);
    expect(r.calibrated.thresholds).toBe(true);
    expect(r.output).toBe(tuned());
    expect(r.data).toMatch(/bundled/);
  });

  it('report --baseline --limit 200 --json', async () => {
    const run = await pg(['report', tuned(), '--data', BUNDLED_TEST, '--baseline', FIXTURES.resnet, '--limit', '200', '--json']);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const doc = json(run);
    expect(schemaErrors('envelope', doc)).toEqual([]);
    expect(schemaErrors('report', doc.result)).toEqual([]);
    const r = doc.result as ReportJson & { baseline_accuracy: number; accuracy_drop: number; bavg: number };
    expect(r.samples).toBe(200);
    // The whole model agrees with the per-layer table; the ResNet's gated convs (residual sums included, the
    // default) hold all but the stem's, the shortcuts' and the classifier's MACs.
    expectWholeModelFromLayers(r);
    expect(r.whole_model.gated_mac_fraction).toBeGreaterThan(0.9);
    expect(r.whole_model.gated_mac_fraction).toBeLessThan(1);
    expect(r.whole_model.act_bits).toBeGreaterThan(r.bavg);
    expect(r.accuracy_drop).toBeCloseTo(r.baseline_accuracy - r.accuracy, 10);
    expect(r.act_scale).toBe('static');
    // Thresholds calibrated to 85% sparsity stay in that region after 3 steps.
    expect(r.sparsity).toBeGreaterThan(0.5);
    expect(r.bavg).toBeGreaterThanOrEqual(2);
    expect(r.bavg).toBeLessThanOrEqual(4);
    for (const l of r.layers.filter((x) => x.gated)) {
      expect(l.threshold).not.toBeNull();
      expect(l.high_precision_fraction).not.toBeNull();
    }
  });

  it('report without --json prints the headline figures and the layer table', async () => {
    const run = await pg(['report', tuned(), '--data', BUNDLED_TEST, '--baseline', FIXTURES.resnet, '--limit', '200']);
    expect(run.code, run.stderr).toBe(0);
    const at = (label: string) => run.stdout.split('\n').findIndex((l) => new RegExp(`^${label}\\s`).test(l));
    const order = ['accuracy', 'baseline accuracy', 'accuracy drop', 'whole model', 'BitOps', 'precision', 'act scale', 'gated layers', 'sparsity', 'B_avg'].map(at);
    expect(order.every((i) => i >= 0)).toBe(true);
    expect(order).toEqual([...order].sort((a, b) => a - b));
    expect(run.stdout).toMatch(/MAC-weighted, over gated layers \(\d+\.\d% of MACs\)/);
    expect(run.stdout).toMatch(/^layer\s+op\s+bits\s+input\s+MACs\s+outputs\s+high-prec\s+thr min\s+thr mean\s+thr max$/m);
    expect(run.stdout).toMatch(/PGConv/);
  });
});
