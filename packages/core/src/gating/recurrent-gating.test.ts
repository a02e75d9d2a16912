import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { FMNIST_NORM, fixtureModel } from '../../test/fixtures.js';
import { openDataset, rowSequences, type Dataset } from '../data/index.js';
import { UsageError } from '../errors/index.js';
import type { Model } from '../graph/index.js';
import { readModel } from '../onnx/index.js';
import { initBackend } from '../interpreter/backend.js';
import { inspectModel } from '../inspect/index.js';
import { measureReport } from '../metrics/index.js';
import { calibrate, finetune, FINETUNE_DEFAULTS } from '../train/index.js';
import { convertModel } from './convert.js';
import { PG_LSTM, Q_LSTM, RECURRENT_GATE_RULE_ATTR, thresholdName } from './format.js';
import { pgLayers } from './layers.js';
import { refuseRecurrentExport } from './recurrent-convert.js';

// Gated LSTMs through pg's stages on the row-LSTM fixture (fixtures/make_recurrent.py): placement and convert,
// calibration to a target sparsity, fine-tuning of the thresholds, the report's MACs, and hw-json's refusal.

const LSTM = '/lstm/LSTM';
const base = { bits: 4, hbits: 2, wbits: 8, actScale: 'static' as const };
let rowLstm: Model;
let train: Dataset;
let test: Dataset;

beforeAll(async () => {
  await initBackend('wasm');
  rowLstm = await readModel(fixtureModel('row-lstm-fmnist'));
  train = rowSequences(await openDataset('fashion-mnist:train?source=bundled', { ...FMNIST_NORM }));
  test = rowSequences(await openDataset('fashion-mnist:test?source=bundled', { ...FMNIST_NORM }));
});

const thresholds = (m: Model) => Array.from(m.graph.initializers.get(thresholdName(LSTM))!.data() as Float32Array);

describe('pg convert places gated LSTMs', () => {
  it('gates an LSTM with the default rule and says why; the bits apply', () => {
    const { model, layers } = convertModel(rowLstm, { ...base, bits: 3, hbits: 1, wbits: 6 });
    const decision = layers.find((l) => l.name === LSTM)!;
    expect(decision).toMatchObject({ op: 'LSTM', gated: true, gate: 'plain', bits: 3, hbits: 1, wbits: 6 });
    expect(decision.reason).toMatch(/input-to-hidden and hidden-to-hidden products are gated per unit and time step.*gate rule 'knee' \(the default\)/);
    const node = model.graph.nodes.find((n) => n.name === LSTM)!;
    expect(node.opType).toBe(PG_LSTM);
    expect(node.attributes[RECURRENT_GATE_RULE_ATTR]).toEqual({ type: 'string', value: 'knee' });
    // One threshold per direction and unit of z (4 gates × 64 units).
    expect(model.graph.initializers.get(thresholdName(LSTM))!.dims).toEqual([1, 256]);
    expect(pgLayers(model)[0]).toMatchObject({ gated: true, bits: 3, hbits: 1, wbits: 6, weight: node.inputs[1], recurrentWeight: node.inputs[2] });
  });

  it('takes another rule, quantizes with --mode static, keeps excluded ones float, and refuses seernet naming the node', () => {
    const above = convertModel(rowLstm, { ...base, recurrentRule: 'above' }).model.graph.nodes.find((n) => n.name === LSTM)!;
    expect(above.attributes[RECURRENT_GATE_RULE_ATTR]).toEqual({ type: 'string', value: 'above' });
    const stat = convertModel(rowLstm, { ...base, bits: 8, mode: 'static' });
    expect(stat.model.graph.nodes.find((n) => n.name === LSTM)!.opType).toBe(Q_LSTM);
    expect(stat.layers[0]).toMatchObject({ gated: false, bits: 8, reason: expect.stringMatching(/^--mode static: quantized statically where pg would gate \(LSTM/) });
    expect(convertModel(rowLstm, { ...base, exclude: [LSTM] }).layers[0]).toMatchObject({ gated: false, bits: null, reason: 'excluded by --exclude' });
    expect(() => convertModel(rowLstm, { ...base, mode: 'seernet' })).toThrow(UsageError);
    expect(() => convertModel(rowLstm, { ...base, mode: 'seernet' })).toThrow(/--mode seernet does not apply to the LSTM '\/lstm\/LSTM'/);
  });

  it('keeps a GRU float with the reason, and gates both directions of a bidirectional LSTM', async () => {
    const gru = convertModel(await readModel(`${fixtureModel('recurrent/gru-1layer')}`), base);
    expect(gru.layers.filter((l) => l.op === 'GRU').map((l) => [l.gated, l.reason])).toEqual([[false, 'GRU: pg gates LSTM layers only (no gated GRU form yet), kept float']]);
    const bi = convertModel(await readModel(fixtureModel('recurrent/lstm-2layer-bidirectional')), base).model;
    const gated = bi.graph.nodes.filter((n) => n.opType === PG_LSTM);
    expect(gated.length).toBe(2);
    for (const n of gated) expect(bi.graph.initializers.get(n.inputs[8])!.dims[0]).toBe(2);
  });
});

describe('calibration, fine-tuning and the report of a gated LSTM', () => {
  let calibrated: Model;
  beforeAll(async () => {
    const gated = convertModel(rowLstm, base).model;
    calibrated = await calibrate(gated, train, { batches: 4, batchSize: 64, seed: 0, scales: true, targetSparsity: 0.85 });
  }, 120_000);

  it('calibrates x’s scale and reaches the target sparsity on held-out images; the report counts the MACs per step', async () => {
    const scale = calibrated.graph.initializers.get(pgLayers(calibrated)[0].actScale)!.data() as Float32Array;
    // Normalised pixels reach (1 − 0.286) / 0.353 ≈ 2.02.
    expect(scale[0]).toBeCloseTo((1 - 0.286) / 0.353, 2);
    const { facts, counts } = await measureReport(calibrated, test, { batchSize: 250, limit: 500 });
    const i = facts.layers.findIndex((l) => l.name === LSTM);
    const lstm = facts.layers[i];
    // Per sample: 28 steps × 256 pre-activations, each 28 + 64 MACs (its row of W and of R).
    expect(lstm).toMatchObject({ op: PG_LSTM, gated: true, outputs: 28 * 256, macs: 28 * 256 * (28 + 64) });
    const sparsity = 1 - counts.updated[i]! / (counts.samples * lstm.outputs);
    expect(Math.abs(sparsity - 0.85)).toBeLessThan(0.04);
  }, 120_000);

  it('a few training steps move the thresholds through the loss alone (the surrogate gradient reaches them; no penalty)', async () => {
    const before = thresholds(calibrated);
    const out = await finetune(calibrated, train, {
      ...FINETUNE_DEFAULTS,
      batchSize: 32,
      maxSteps: 2,
      targetSparsity: 'none',
      finalCalibration: false,
      trainWeights: false,
      lr: 1e-2,
      penalty: 0,
      workers: 1,
    });
    const after = thresholds(out.model);
    const moved = after.filter((v, u) => Math.abs(v - before[u]) > 1e-4).length;
    expect(moved).toBeGreaterThan(after.length / 2);
    expect(after.every(Number.isFinite)).toBe(true);
  }, 120_000);

  it('hw-json refuses a gated LSTM naming the layer', () => {
    expect(() => refuseRecurrentExport(calibrated, 'hw-json')).toThrow(/layer '\/lstm\/LSTM' \(PGLSTM\) cannot be exported as hw-json/);
    expect(() => refuseRecurrentExport(rowLstm, 'hw-json')).not.toThrow();
    tf.disposeVariables();
  });
});

describe('pg inspect of a gated LSTM', () => {
  it('gives the MACs of the float LSTM it came from', () => {
    const converted = convertModel(rowLstm, base).model;
    const macs = (m: Model) => inspectModel(m).layers.find((l) => l.name === LSTM)!.macs;
    expect(macs(converted)).toBe(28 * 64 * 4 * (28 + 64));
    expect(macs(converted)).toBe(macs(rowLstm));
  });
});
