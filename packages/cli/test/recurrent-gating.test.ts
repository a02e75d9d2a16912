import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLED_TEST, BUNDLED_TRAIN, ROOT, json, pg, tempDir } from './support/pg.js';
import { schemaErrors } from './support/schemas.js';

// A gated LSTM through the real binary: the recipe (pg convert, then a bare pg finetune --data) on the
// row-LSTM fixture, its report, and the export formats' refusal.

const ROW_LSTM = join(ROOT, 'fixtures/models/row-lstm-fmnist.onnx');

let tmp: Awaited<ReturnType<typeof tempDir>>;
beforeAll(async () => {
  tmp = await tempDir();
});
afterAll(async () => {
  await tmp.remove();
});

describe('a gated LSTM through pg convert, pg finetune, pg report and pg export', () => {
  it('converts with the placement reason, fine-tunes with the recipe, reports the LSTM per step, and refuses export naming the layer', async () => {
    const gated = join(tmp.dir, 'row.onnx');
    const conv = await pg(['convert', ROW_LSTM, '-o', gated, '--json']);
    expect(conv.code, conv.stderr).toBe(0);
    const layers = (json(conv) as { result: { layers: { name: string; op: string; gated: boolean; reason: string }[] } }).result.layers;
    expect(layers.find((l) => l.op === 'LSTM')).toMatchObject({ name: '/lstm/LSTM', gated: true, reason: expect.stringMatching(/gate rule 'knee' \(the default\)/) });
    // No Conv/Gemm reads the input, so the summary names no first layer.
    const text = await pg(['convert', ROW_LSTM, '-o', join(tmp.dir, 'row-text.onnx')]);
    expect(text.stdout).toMatch(/Wrote .*row-text\.onnx: 1 gated, 0 quantized, 1 float layer\(s\) at 4\/2 bits/);
    expect(text.stdout).not.toMatch(/first layer at/);

    const tuned = join(tmp.dir, 'row-ft.onnx');
    const ft = await pg(['finetune', gated, '--data', BUNDLED_TRAIN, '-o', tuned, '--max-steps', '2', '--batch-size', '64', '--json']);
    expect(ft.code, ft.stderr).toBe(0);
    expect((json(ft) as { result: { calibrated: Record<string, boolean> } }).result.calibrated).toEqual({ thresholds: true, act_scales: true });

    const rep = await pg(['report', tuned, '--data', BUNDLED_TEST, '--limit', '300', '--json']);
    expect(rep.code, rep.stderr).toBe(0);
    const doc = json(rep) as {
      result: { sparsity: number; whole_model: { act_bits: number; macs: number }; layers: { op: string; macs: number; outputs: number; gated: boolean }[] };
    };
    expect(schemaErrors('report', doc.result)).toEqual([]);
    expect(doc.result.layers.find((l) => l.op === 'PGLSTM')).toMatchObject({ gated: true, outputs: 28 * 256, macs: 28 * 256 * (28 + 64) });
    // The final calibration lands the calibration sample on 0.85; held-out images stay near it.
    expect(Math.abs(doc.result.sparsity - 0.85)).toBeLessThan(0.05);
    expect(doc.result.whole_model.macs).toBe(28 * 256 * (28 + 64) + 64 * 10);

    for (const format of ['onnx', 'onnx-pg', 'hw-json']) {
      const out = join(tmp.dir, `exported.${format}`);
      const ex = await pg(['export', tuned, '--format', format, '-o', out]);
      expect(ex.code, format).toBe(4);
      expect(ex.stderr).toMatch(new RegExp(`^Error \\[PG_UNSUPPORTED\\]: .*layer '/lstm/LSTM' \\(PGLSTM\\) cannot be exported as ${format}`, 'm'));
      expect(ex.stderr).not.toMatch(/\n\s+at /);
      expect(existsSync(out)).toBe(false);
    }
  }, 240_000);
});
