import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { encodeNpy } from '@pg/core/internal';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReportJson } from '../src/report-format.js';
import { BUNDLED_TEST, BUNDLED_TRAIN, FIXTURES, json, pg, tempDir } from './support/pg.js';
import { schemaErrors } from './support/schemas.js';
import { expectWholeModelFromLayers } from './support/whole-model.js';

let tmp: Awaited<ReturnType<typeof tempDir>>;
beforeAll(async () => {
  tmp = await tempDir();
});
afterAll(async () => {
  await tmp.remove();
});

describe('pg report on the tiny CNN', () => {
  it('measures a float model: no gated layers, no B_avg, labelled as such, and still the whole-model figures', async () => {
    const run = await pg(['report', FIXTURES.tiny, '--data', BUNDLED_TEST, '--limit', '200', '--json']);
    expect(run.code, run.stdout).toBe(0);
    const doc = json(run);
    expect(schemaErrors('envelope', doc)).toEqual([]);
    expect(schemaErrors('report', doc.result)).toEqual([]);
    const r = doc.result as ReportJson;
    expect(r).toMatchObject({ samples: 200, bavg: null, act_scale: 'none (float model)' });
    // Every layer float: 16 bits for activations and weights, the same cost as every baseline but the 8-bit one.
    expect(r.whole_model).toMatchObject({ gated_mac_fraction: 0, act_bits: 16, weight_bits: 16, bitops_vs_static_b: 1, bitops_vs_seernet: 1 });
    expectWholeModelFromLayers(r);
    const text = await pg(['report', FIXTURES.tiny, '--data', BUNDLED_TEST, '--limit', '200']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^whole model\s+16\.00 activation bits, 16\.00 weight bits per MAC over all 4 conv\/linear layers/m);
    expect(text.stdout).toMatch(/^gated layers\s+none: the model has no gated layer, so sparsity and B_avg do not apply$/m);
    expect(text.stdout).not.toMatch(/^(sparsity|B_avg)\s/m);
  });

  it('leads with whole-model figures that agree with its per-layer table: a quantized stem reading the signed input, gated layers reading ReLU outputs', async () => {
    const gated = join(tmp.dir, 'first8.onnx');
    const conv = await pg(['convert', FIXTURES.tiny, '-o', gated, '--first-layer-bits', '8', '--data', BUNDLED_TRAIN, '--calibration-batches', '1']);
    expect(conv.code, conv.stderr).toBe(0);
    const run = await pg(['report', gated, '--data', BUNDLED_TEST, '--limit', '200', '--json']);
    expect(run.code, run.stderr).toBe(0);
    const r = json(run).result as ReportJson;
    expect(schemaErrors('report', r)).toEqual([]);
    // JSON: accuracy, then the whole model, before the gated layers' figures.
    const keys = Object.keys(r);
    expect(keys.indexOf('whole_model')).toBe(keys.indexOf('accuracy') + 1);
    expect(r.layers.map((l) => [l.op, l.input_signed])).toEqual([
      ['QConv', true],
      ['PGConv', false],
      ['PGConv', false],
      ['Gemm', false],
    ]);
    expectWholeModelFromLayers(r);
    const gatedMacs = r.layers.filter((l) => l.gated).reduce((s, l) => s + l.macs, 0);
    expect(r.whole_model.gated_mac_fraction).toBeGreaterThan(0.5);
    expect(r.whole_model.gated_mac_fraction).toBeCloseTo(gatedMacs / r.whole_model.macs, 12);
    // Text: the whole model before the gated layers' figures, which name the share of MACs they cover.
    const text = await pg(['report', gated, '--data', BUNDLED_TEST, '--limit', '200']);
    expect(text.code, text.stderr).toBe(0);
    const lines = text.stdout.split('\n');
    const at = (re: RegExp) => lines.findIndex((l) => re.test(l));
    expect(at(/^whole model\s/)).toBeGreaterThan(at(/^accuracy\s/));
    expect(at(/^BitOps\s+[\d.e+]+ per sample, whole network on the bit-serial model: \d\.\d{3}x static 4-bit, \d\.\d{3}x static 8-bit, \d\.\d{3}x SeerNet-style$/)).toBe(
      at(/^whole model\s/) + 1,
    );
    const share = `${(r.whole_model.gated_mac_fraction! * 100).toFixed(1)}%`;
    expect(text.stdout).toContain(`over gated layers (${share} of MACs)`);
    expect(at(/^B_avg\s+\d\.\d\d bits over gated layers/)).toBeGreaterThan(at(/^whole model\s/));
    expect(text.stdout).toMatch(/^\/conv1\/Conv\s+QConv\s+8\s+signed\s/m);
  });

  it('shows the conversion mode in every form, and prices a SeerNet-form model by its own recompute', async () => {
    const seer = join(tmp.dir, 'seernet.onnx');
    const st = join(tmp.dir, 'static.onnx');
    for (const [out, mode] of [
      [seer, 'seernet'],
      [st, 'static'],
    ]) {
      const conv = await pg(['convert', FIXTURES.tiny, '-o', out, '--mode', mode, '--data', BUNDLED_TRAIN, '--calibration-batches', '1']);
      expect(conv.code, conv.stderr).toBe(0);
    }
    const run = await pg(['report', seer, '--data', BUNDLED_TEST, '--limit', '100', '--cost', 'bit-serial', '--compare', st, '--json']);
    expect(run.code, run.stderr).toBe(0);
    const r = json(run).result as ReportJson;
    expect(schemaErrors('report', r)).toEqual([]);
    expect(r.mode).toBe('seernet');
    expect(r.compared?.map((c) => c.mode)).toEqual(['static']);
    expect(r.layers.filter((l) => l.gated).every((l) => l.gate_mode === 'seernet')).toBe(true);
    expectWholeModelFromLayers(r);
    // A SeerNet-form model costs what the SeerNet-style scheme costs: its ratio to that baseline is 1.
    expect(r.whole_model.bitops_vs_seernet).toBeCloseTo(1, 12);
    expect(r.whole_model.bitops_vs_static_b).toBeLessThan(1.5);
    const text = await pg(['report', seer, '--data', BUNDLED_TEST, '--limit', '100']);
    expect(text.stdout).toMatch(/^mode\s+seernet: predicted from B_hb bits; outputs that pass the gate recomputed at B bits, the others zero \(SeerNet\)$/m);
    expect(text.stdout).toMatch(/^\/conv2\/Conv\s+PGConv\s+4\/2 seernet\s/m);
    const md = await pg(['report', st, '--data', BUNDLED_TEST, '--limit', '100', '--format', 'md']);
    expect(md.code, md.stderr).toBe(0);
    expect(md.stdout).toMatch(/\| mode \| static: the layers PG would gate are quantized at B bits without a gate/);
  });

  it('warns that an uncalibrated static model gives meaningless figures', async () => {
    const gated = join(tmp.dir, 'uncalibrated.onnx');
    expect((await pg(['convert', FIXTURES.tiny, '-o', gated])).code).toBe(0);
    const run = await pg(['report', gated, '--data', BUNDLED_TEST, '--limit', '100', '--json']);
    expect(run.code, run.stdout).toBe(0);
    const doc = json(run) as { result: unknown; warnings: string[] };
    expect(schemaErrors('report', doc.result)).toEqual([]);
    expect(doc.result).toMatchObject({ act_scale: 'static-uncalibrated' });
    expect(doc.warnings).toEqual([expect.stringMatching(/never calibrated/)]);
    const human = await pg(['report', gated, '--data', BUNDLED_TEST, '--limit', '100']);
    expect(human.stderr).toMatch(/^Warning: .*never calibrated/m);
  });

  it('checks that the data fits the model before running it', async () => {
    // The tiny CNN takes 1×28×28; samples of 3×8×8 must be refused with both shapes named.
    const x = join(tmp.dir, 'wrong-shape-x.npy');
    const y = join(tmp.dir, 'wrong-shape-y.npy');
    await writeFile(x, encodeNpy({ dtype: 'float32', shape: [2, 3, 8, 8], data: new Float32Array(2 * 3 * 8 * 8) }));
    await writeFile(y, encodeNpy({ dtype: 'int64', shape: [2], data: new BigInt64Array([1n, 2n]) }));
    const run = await pg(['report', FIXTURES.tiny, '--data', x, '--labels', y]);
    expect(run.code).toBe(5);
    expect(run.stderr).toMatch(/^Error \[PG_INVALID_DATA\]: .*\[3, 8, 8\].*\[1, 28, 28\]/m);
  });
});

describe('pg report on a model gated on its residual sums (pg convert --gate-residual)', () => {
  it("names each layer's gate (residual for every block's second conv) and counts those layers as gated in the whole-model figures", async () => {
    const gated = join(tmp.dir, 'resnet-residual.onnx');
    const conv = await pg(['convert', FIXTURES.resnet, '-o', gated, '--gate-residual', '--data', BUNDLED_TRAIN, '--calibration-batches', '1']);
    expect(conv.code, conv.stderr).toBe(0);
    const run = await pg(['report', gated, '--data', BUNDLED_TEST, '--limit', '64', '--json']);
    expect(run.code, run.stderr).toBe(0);
    const r = json(run).result as ReportJson;
    expect(schemaErrors('report', r)).toEqual([]);
    expect(r.layers.filter((l) => l.gate === 'residual').map((l) => [l.name, l.op])).toEqual([
      ['/layer1/conv2/Conv', 'PGResidualConv'],
      ['/layer2/conv2/Conv', 'PGResidualConv'],
      ['/layer3/conv2/Conv', 'PGResidualConv'],
    ]);
    expect(r.layers.filter((l) => l.gate === 'plain').every((l) => l.op === 'PGConv' && l.gated)).toBe(true);
    expect(r.layers.filter((l) => l.gate === null).every((l) => !l.gated)).toBe(true);
    expectWholeModelFromLayers(r);
    expect(r.whole_model.gated_mac_fraction).toBeGreaterThan(0.9);
  });
});

describe('pg report --format', () => {
  let gated: string;
  beforeAll(async () => {
    gated = join(tmp.dir, 'calibrated.onnx');
    const run = await pg(['convert', FIXTURES.tiny, '-o', gated, '--data', BUNDLED_TRAIN, '--calibration-batches', '1']);
    expect(run.code, run.stderr).toBe(0);
  });

  it('writes the JSON report to a file: the --json result, valid against the schema, with per-channel thresholds', async () => {
    const file = join(tmp.dir, 'report.json');
    const run = await pg(['report', gated, '--data', BUNDLED_TEST, '--limit', '100', '--format', 'json', '-o', file, '--decision-maps', '2', '--json']);
    expect(run.code, run.stderr).toBe(0);
    const written = JSON.parse(await readFile(file, 'utf8')) as ReportJson;
    expect(schemaErrors('report', written)).toEqual([]);
    expect(written).toEqual(json(run).result);
    const gatedLayers = written.layers.filter((l) => l.gated);
    expect(gatedLayers).toHaveLength(2);
    for (const l of gatedLayers) {
      expect(l.threshold_per_channel?.length).toBeGreaterThan(1);
      expect(Math.min(...(l.threshold_per_channel ?? []))).toBeCloseTo(l.threshold!.min, 5);
    }
    // Two samples, one map per gated conv layer, H×W fractions each, consistent with the layer's figures.
    const maps = written.decision_maps!;
    expect(maps.samples.map((s) => s.index)).toEqual([0, 1]);
    expect(maps.layers.map((m) => m.layer)).toEqual(gatedLayers.map((l) => l.name));
    for (const m of maps.layers) {
      expect(m.fractions).toHaveLength(2);
      for (const f of m.fractions) expect(f).toHaveLength(m.height * m.width);
      expect(m.fractions.flat().some((v) => v > 0 && v <= 1)).toBe(true);
    }
  });

  it('writes Markdown for a pull-request comment, and prints it on stdout without -o', async () => {
    const run = await pg(['report', gated, '--data', BUNDLED_TEST, '--limit', '100', '--format', 'md', '--compare', FIXTURES.tiny, '--cost', 'bit-serial']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^### pg report: `.*calibrated\.onnx`$/m);
    expect(run.stdout).toMatch(/^\| accuracy \| \d+\.\d% \|$/m);
    expect(run.stdout).toContain('<details><summary>Per layer (4 layers)</summary>');
    expect(run.stdout).toMatch(/^\| `\/conv2\/Conv` \| PGConv \| 4\/2 \| unsigned \| 451,584 \| \d+\.\d% \| -?\d+\.\d{3} \|$/m);
    // The whole model leads the headline table; the gated figures say what they cover.
    expect(run.stdout).toMatch(/^\| accuracy \| [^\n]+\n\| whole model \| [\d.]+ activation bits, [\d.]+ weight bits per MAC over all 4 conv\/linear layers/m);
    expect(run.stdout).toMatch(/^\| B_avg \| \d\.\d\d bits over gated layers \(\d+\.\d% of MACs\) \|$/m);
    expect(run.stdout).toMatch(/^\| bit-serial \| bitops \| [\d.e+]+ \| \d\.\d{3}x \| \d\.\d{3}x \| \d\.\d{3}x \|$/m);
    // The float model (16-bit activations everywhere, no B_avg) is listed in the configurations, behind the gated one on the frontier.
    expect(run.stdout).toMatch(/^\| .*tiny-cnn\.onnx \| \d+\.\d% \| 16\.00 \| [\d.e+]+ \| - \|$/m);
    expect(run.stdout).toMatch(/^\| ★ .*calibrated\.onnx \| \d+\.\d% \| \d\.\d\d \| [\d.e+]+ \| \d\.\d\d \|$/m);
  });

  it('draws decision maps of the chosen layers only, and refuses a layer that has none', async () => {
    const run = await pg(['report', gated, '--data', BUNDLED_TEST, '--limit', '20', '--decision-layers', '/conv3/Conv', '--json']);
    expect(run.code, run.stderr).toBe(0);
    const maps = (json(run).result as ReportJson).decision_maps!;
    expect(maps.layers.map((m) => [m.layer, m.kind, m.height, m.width])).toEqual([['/conv3/Conv', 'conv', 7, 7]]);
    expect(maps.samples).toHaveLength(4);
    const bad = await pg(['report', gated, '--data', BUNDLED_TEST, '--decision-layers', '/conv1/Conv']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^Error \[PG_USAGE\]: no decision map for '\/conv1\/Conv': not a gated layer/m);
    expect(bad.stderr).toMatch(/^Action: choose from: \/conv2\/Conv, \/conv3\/Conv$/m);
  });

  it('draws a gated linear layer (PGGemm) as one row of its output units, consistent with its high-precision fraction', async () => {
    // Dynamic scales need no calibration: the quickest model with a gated classifier.
    const withFc = join(tmp.dir, 'fc-gated.onnx');
    const conv = await pg(['convert', FIXTURES.tiny, '-o', withFc, '--act-scale', 'dynamic', '--include', '/fc/Gemm']);
    expect(conv.code, conv.stderr).toBe(0);
    const run = await pg(['report', withFc, '--data', BUNDLED_TEST, '--limit', '16', '--batch-size', '16', '--decision-maps', '16', '--decision-layers', '/fc/Gemm', '--json']);
    expect(run.code, run.stderr).toBe(0);
    const r = json(run).result as ReportJson;
    expect(schemaErrors('report', r)).toEqual([]);
    const [m] = r.decision_maps!.layers;
    expect([m.layer, m.kind, m.height, m.width]).toEqual(['/fc/Gemm', 'linear', 1, 10]);
    expect(m.fractions).toHaveLength(16);
    // Each unit's decision is 0 or 1, and over all 16 samples (the whole evaluation) their mean is the layer's fraction.
    const all = m.fractions.flat();
    expect(all.every((v) => v === 0 || v === 1)).toBe(true);
    const fc = r.layers.find((l) => l.name === '/fc/Gemm')!;
    expect(all.reduce((a, v) => a + v, 0) / all.length).toBeCloseTo(fc.high_precision_fraction!, 9);
  });

  it('refuses a non-text format on stdout with --json (the envelope owns stdout), and -o naming the model', async () => {
    const run = await pg(['report', gated, '--data', BUNDLED_TEST, '--format', 'md', '--json']);
    expect(run.code).toBe(2);
    expect(json(run)).toMatchObject({ status: 2, code: 'PG_USAGE' });
    const over = await pg(['report', gated, '--data', BUNDLED_TEST, '--format', 'md', '-o', gated]);
    expect(over.code).toBe(2);
    expect(over.stderr).toMatch(/would replace the original/);
  });
});
