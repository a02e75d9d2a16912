import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReportJson } from '../src/report-format.js';
import { BUNDLED_TEST, BUNDLED_TRAIN, FIXTURES, json, pg, tempDir } from './support/pg.js';

let tmp: Awaited<ReturnType<typeof tempDir>>;
beforeAll(async () => {
  tmp = await tempDir();
});
afterAll(async () => {
  await tmp.remove();
});

/**
 * What this run reached when the bounds were set (accuracy 89.2% against the float model's 93.4% on the 1,000
 * bundled test images, sparsity 0.851, the whole model at 0.597x static 4-bit with the residual sums gated, pg
 * convert's default), less a margin for the last float bits that other CPUs and backends may round differently
 * (12 images; 0.02 of sparsity; 0.02 of the cost ratio). The plain placement (--no-gate-residual) reached 90.2%
 * at 0.84x: the cost bound fails if the default stops gating the residual sums. With threshold calibration
 * returning zeros the plain run reached 85.9%, with the cross-entropy's sign inverted 9.7%;
 * docs/architecture.md ("Tests") lists the breakages tried, and the one it does not catch.
 */
const BOUNDS = { accuracy: 0.88, sparsity: 0.83, bitopsVsStaticB: 0.62 };

// The bare commands (pg's defaults are the recipe) on the bundled ResNet and the bundled Fashion-MNIST subset,
// seeded: the same run, the same numbers, wherever CI runs it.
describe('accuracy guard: the recipe on the bundled ResNet and subset', () => {
  it('convert, finetune (one epoch, defaults, --seed 0) and report stay above the recorded bounds', async () => {
    const gated = join(tmp.dir, 'gated.onnx');
    const tuned = join(tmp.dir, 'tuned.onnx');
    const convert = await pg(['convert', FIXTURES.resnet, '-o', gated, '--json']);
    expect(convert.code, convert.stdout + convert.stderr).toBe(0);
    const finetune = await pg(['finetune', gated, '--data', BUNDLED_TRAIN, '-o', tuned, '--seed', '0', '--json']);
    expect(finetune.code, finetune.stdout + finetune.stderr).toBe(0);
    // The bare command ran the recipe: one epoch, the default target, weights trained, the final calibration.
    const f = json(finetune).result as { epochs: number; target_sparsity: number; final_calibration: boolean; trained: string[] };
    expect(f).toMatchObject({ target_sparsity: 0.85, final_calibration: true });
    expect(f.epochs).toBeGreaterThan(0.9);
    expect(f.trained).toContain('fc.weight');
    const report = await pg(['report', tuned, '--data', BUNDLED_TEST, '--baseline', FIXTURES.resnet, '--json']);
    expect(report.code, report.stdout + report.stderr).toBe(0);
    const r = json(report).result as ReportJson & { baseline_accuracy: number; accuracy_drop: number };
    const seen = `accuracy ${r.accuracy} (float ${r.baseline_accuracy}), sparsity ${r.sparsity}, ${r.whole_model.bitops_vs_static_b}x static B`;
    expect(r.samples).toBe(1000);
    expect(r.accuracy, seen).toBeGreaterThanOrEqual(BOUNDS.accuracy);
    expect(r.sparsity, seen).toBeGreaterThanOrEqual(BOUNDS.sparsity);
    expect(r.whole_model.bitops_vs_static_b, seen).toBeLessThanOrEqual(BOUNDS.bitopsVsStaticB);
    // The timeout is room for a loaded machine, not a measurement: nothing here depends on time.
  }, 3_600_000);
});
