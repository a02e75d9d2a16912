import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { encodeNpy, maxRelativeDifference, readNpyFile } from '@pg/core/internal';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLED_TEST, BUNDLED_TRAIN, ROOT, json, pg, tempDir } from './support/pg.js';
import { schemaErrors } from './support/schemas.js';

// A gated LSTM through the real binary: the recipe (pg convert, then a bare pg finetune --data) on the
// row-LSTM fixture, its report, ONNX Runtime on the file and its ONNX exports, and hw-json's refusal.

const ROW_LSTM = join(ROOT, 'fixtures/models/row-lstm-fmnist.onnx');

let tmp: Awaited<ReturnType<typeof tempDir>>;
beforeAll(async () => {
  tmp = await tempDir();
});
afterAll(async () => {
  await tmp.remove();
});

describe('a gated LSTM through pg convert, pg finetune, pg report and pg export', () => {
  it('converts with the placement reason, fine-tunes with the recipe, reports the LSTM per step, runs and exports it for ONNX Runtime to pg’s outputs; hw-json refuses it naming the layer', async () => {
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

    // The fine-tuned file runs in ONNX Runtime (its PGLSTM function) and exports as standard ONNX, to pg's outputs.
    const x = join(tmp.dir, 'x.npy');
    await writeFile(x, encodeNpy({ dtype: 'float32', shape: [4, 28, 28], data: Float32Array.from({ length: 4 * 28 * 28 }, (_, i) => Math.sin(i * 0.1) * 1.5) }));
    const outputs: Float32Array[] = [];
    const std = join(tmp.dir, 'exported.onnx');
    const ex = await pg(['export', tuned, '--format', 'onnx', '-o', std]);
    expect(ex.code, ex.stderr).toBe(0);
    const withFunctions = join(tmp.dir, 'exported-pg.onnx');
    expect((await pg(['export', tuned, '--format', 'onnx-pg', '-o', withFunctions])).code).toBe(0);
    for (const [model, runtime] of [
      [tuned, 'pg'],
      [tuned, 'onnxruntime'],
      [std, 'onnxruntime'],
      [withFunctions, 'onnxruntime'],
    ]) {
      const y = join(tmp.dir, `y-${outputs.length}.npy`);
      const run = await pg(['run', model, '-i', x, '-o', y, '--runtime', runtime]);
      expect(run.code, run.stderr).toBe(0);
      outputs.push((await readNpyFile(y)).data as Float32Array);
    }
    for (const o of outputs.slice(1)) expect(maxRelativeDifference(o, outputs[0])).toBeLessThan(1e-4);

    // hw-json has no recurrent layer: refused naming the layer, saying what to use instead; nothing written.
    const out = join(tmp.dir, 'exported.hw.json');
    const hw = await pg(['export', tuned, '--format', 'hw-json', '-o', out]);
    expect(hw.code).toBe(4);
    expect(hw.stderr).toMatch(/^Error \[PG_UNSUPPORTED\]: .*layer '\/lstm\/LSTM' \(PGLSTM\) cannot be exported as hw-json: its layer list has no recurrent layer/m);
    expect(hw.stderr).toMatch(/--format onnx/);
    expect(hw.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(out)).toBe(false);
  }, 240_000);
});
