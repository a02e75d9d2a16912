import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { encodeNpy, maxRelativeDifference, readNpyFile } from '@pg/core/internal';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLED_TEST, BUNDLED_TRAIN, ROOT, json, pg, tempDir } from './support/pg.js';
import { schemaErrors } from './support/schemas.js';

// A gated LSTM and a gated GRU through the real binary: the recipe (pg convert, then a bare pg finetune --data) on
// the row-LSTM and row-GRU fixtures, the report, ONNX Runtime on the file and its ONNX exports, and hw-json.

const ROW_MODELS = [
  { kind: 'LSTM', path: join(ROOT, 'fixtures/models/row-lstm-fmnist.onnx'), node: '/lstm/LSTM', gates: 4 },
  { kind: 'GRU', path: join(ROOT, 'fixtures/models/row-gru-fmnist.onnx'), node: '/gru/GRU', gates: 3 },
] as const;

let tmp: Awaited<ReturnType<typeof tempDir>>;
beforeAll(async () => {
  tmp = await tempDir();
});
afterAll(async () => {
  await tmp.remove();
});

describe.each(ROW_MODELS)('a gated $kind through pg convert, pg finetune, pg report and pg export', ({ kind, path, node, gates }) => {
  it('converts with the placement reason, fine-tunes with the recipe, reports the layer per step, runs and exports it for ONNX Runtime to pg’s outputs; and describes it as hw-json', async () => {
    const gated = join(tmp.dir, `row-${kind}.onnx`);
    const conv = await pg(['convert', path, '-o', gated, '--json']);
    expect(conv.code, conv.stderr).toBe(0);
    const layers = (json(conv) as { result: { layers: { name: string; op: string; gated: boolean; reason: string }[] } }).result.layers;
    expect(layers.find((l) => l.op === kind)).toMatchObject({ name: node, gated: true, reason: expect.stringMatching(/gate rule 'knee' \(the default\)/) });
    // No Conv/Gemm reads the input, so the summary names no first layer.
    const text = await pg(['convert', path, '-o', join(tmp.dir, `row-${kind}-text.onnx`)]);
    expect(text.stdout).toMatch(/Wrote .*-text\.onnx: 1 gated, 0 quantized, 1 float layer\(s\) at 4\/2 bits/);
    expect(text.stdout).not.toMatch(/first layer at/);

    const tuned = join(tmp.dir, `row-${kind}-ft.onnx`);
    const ft = await pg(['finetune', gated, '--data', BUNDLED_TRAIN, '-o', tuned, '--max-steps', '2', '--batch-size', '64', '--json']);
    expect(ft.code, ft.stderr).toBe(0);
    expect((json(ft) as { result: { calibrated: Record<string, boolean> } }).result.calibrated).toEqual({ thresholds: true, act_scales: true });

    const rep = await pg(['report', tuned, '--data', BUNDLED_TEST, '--limit', '300', '--json']);
    expect(rep.code, rep.stderr).toBe(0);
    const doc = json(rep) as {
      result: { sparsity: number; whole_model: { act_bits: number; macs: number }; layers: { op: string; macs: number; outputs: number; gated: boolean }[] };
    };
    expect(schemaErrors('report', doc.result)).toEqual([]);
    const preactivations = 28 * gates * 64;
    expect(doc.result.layers.find((l) => l.op === `PG${kind}`)).toMatchObject({ gated: true, outputs: preactivations, macs: preactivations * (28 + 64) });
    // The final calibration lands the calibration sample on 0.85; held-out images stay near it.
    expect(Math.abs(doc.result.sparsity - 0.85)).toBeLessThan(0.05);
    expect(doc.result.whole_model.macs).toBe(preactivations * (28 + 64) + 64 * 10);

    // The fine-tuned file runs in ONNX Runtime (its PGLSTM/PGGRU function) and exports as standard ONNX, to pg's outputs.
    const x = join(tmp.dir, `x-${kind}.npy`);
    await writeFile(x, encodeNpy({ dtype: 'float32', shape: [4, 28, 28], data: Float32Array.from({ length: 4 * 28 * 28 }, (_, i) => Math.sin(i * 0.1) * 1.5) }));
    const outputs: Float32Array[] = [];
    const std = join(tmp.dir, `exported-${kind}.onnx`);
    const ex = await pg(['export', tuned, '--format', 'onnx', '-o', std]);
    expect(ex.code, ex.stderr).toBe(0);
    const withFunctions = join(tmp.dir, `exported-${kind}-pg.onnx`);
    expect((await pg(['export', tuned, '--format', 'onnx-pg', '-o', withFunctions])).code).toBe(0);
    for (const [model, runtime] of [
      [tuned, 'pg'],
      [tuned, 'onnxruntime'],
      [std, 'onnxruntime'],
      [withFunctions, 'onnxruntime'],
    ]) {
      const y = join(tmp.dir, `y-${kind}-${outputs.length}.npy`);
      const run = await pg(['run', model, '-i', x, '-o', y, '--runtime', runtime]);
      expect(run.code, run.stderr).toBe(0);
      outputs.push((await readNpyFile(y)).data as Float32Array);
    }
    for (const o of outputs.slice(1)) expect(maxRelativeDifference(o, outputs[0])).toBeLessThan(1e-4);

    // hw-json describes the layer in integers (docs/hw-json.md, step 7): both files written.
    const out = join(tmp.dir, `exported-${kind}.hw.json`);
    const hw = await pg(['export', tuned, '--format', 'hw-json', '-o', out]);
    expect(hw.code, hw.stderr).toBe(0);
    const description = JSON.parse(await readFile(out, 'utf8')) as { version: number; nodes: { name: string; kind: string; op: string; gate: string | null }[] };
    expect(description.version).toBe(3);
    expect(description.nodes.find((n) => n.name === node)).toMatchObject({ kind: 'gated', op: kind, gate: 'recurrent' });
    expect(existsSync(out.replace(/\.json$/, '.bin'))).toBe(true);
    // The converted file before fine-tuning has uncalibrated scales: refused (usage error), saying to calibrate; nothing written.
    const raw = join(tmp.dir, `raw-${kind}.hw.json`);
    const refused = await pg(['export', gated, '--format', 'hw-json', '-o', raw]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/static activation scales that were never calibrated/);
    expect(refused.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(raw)).toBe(false);
  }, 240_000);
});
