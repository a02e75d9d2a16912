import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  actScaleName,
  constTensor,
  convertModel,
  initBackend,
  isPgRecurrentNode,
  maxRelativeDifference,
  thresholdName,
  UnsupportedModelError,
  type ConversionMode,
  type Model,
} from '@pg/core/internal';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportFormat, type HwRecurrentLayer } from '../src/index.js';
import { HwDescription } from './support/integer-evaluator.js';
import { runPg, type PgRun } from './support/gated-fixtures.js';
import { evaluateRecurrent, type RecurrentResult, type Values } from './support/recurrent-evaluator.js';
import { trainedRecurrent } from './support/recurrent-fixtures.js';
import { GRU_OPTION_CASES, LSTM_OPTION_CASES, firstCodeFlip, recurrentModel, xFeed, type Options } from '../../core/test/support/recurrent-models.js';

// hw-json of gated and static LSTMs and GRUs (PGLSTM, QLSTM, PGGRU, QGRU; docs/hw-json.md step 7) on the recurrent fixtures, fine-tuned
// as pg's recipe does: the reference evaluator (support/recurrent-evaluator.ts, written from the document) against
// pg's interpreter, decision for decision and output for output.

const dir = mkdtempSync(join(tmpdir(), 'pg-export-hw-lstm-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeAll(async () => {
  await initBackend('wasm');
});

/** The model with its input's symbolic dimensions past the batch fixed to the batch's (hw-json sizes every layer). */
function fixedInput(model: Model, shape: number[]): Model {
  const [input, ...rest] = model.graph.inputs;
  const fixed = (input.shape ?? []).map((d, i) => (i === 0 || typeof d === 'number' ? d : shape[i]));
  return { ...model, graph: { ...model.graph, inputs: [{ ...input, shape: fixed }, ...rest] } };
}

/** pg's h_{t-1} of direction d for batch entry b at step t, from its Y [T, D, N, H] (undefined at the first step). */
function pgState(y: Float32Array, layer: HwRecurrentLayer, steps: number, batch: number): (d: number, t: number, b: number) => Float32Array | undefined {
  const H = layer.hidden_size;
  const D = layer.direction === 'bidirectional' ? 2 : 1;
  return (d, t, b) => {
    const prev = layer.direction === 'reverse' || d === 1 ? t + 1 : t - 1;
    if (prev < 0 || prev >= steps) return undefined;
    const at = ((prev * D + d) * batch + b) * H;
    return y.subarray(at, at + H);
  };
}

const cases = [
  { name: 'row-lstm-fmnist', mode: 'pg' as const },
  { name: 'row-lstm-fmnist', mode: 'static' as const },
  { name: 'char-lm-kjv', mode: 'pg' as const },
  { name: 'char-lm-kjv', mode: 'static' as const },
  { name: 'row-gru-fmnist', mode: 'pg' as const },
  { name: 'row-gru-fmnist', mode: 'static' as const },
];

describe.each(cases)('hw-json of $name ($mode; calibrated, fine-tuned 2 steps, 16 sequences)', ({ name, mode }) => {
  let model: Model;
  let hw: HwDescription;
  let ours: PgRun;
  let values: Values;
  beforeAll(async () => {
    const trained = await trainedRecurrent(name, mode);
    model = fixedInput(trained.model, trained.batch.shape);
    const out = join(dir, `${name}-${mode}.json`);
    await exportFormat('hw-json').export(model, { output: out });
    hw = new HwDescription(out);
    const lstm = model.graph.nodes.find(isPgRecurrentNode)!;
    const wanted = [...lstm.inputs.slice(0, 8), ...lstm.outputs].filter((v) => v !== '' && !model.graph.initializers.has(v));
    ours = runPg(model, trained.batch, [...new Set([...wanted, ...model.graph.outputs.map((o) => o.name)])]);
    values = Object.fromEntries(Object.entries(ours.outputs).map(([k, v]) => [k, { shape: v.shape, data: v.data }]));
  }, 300_000);

  it('describes the layer in integers: per-direction weight codes of W and R, both quantizers, the accumulators, bias and thresholds', () => {
    const node = model.graph.nodes.find(isPgRecurrentNode)!;
    expect(hw.model.version).toBe(3);
    expect(hw.model.nodes.map((n) => n.name).sort()).toEqual(model.graph.nodes.map((n) => n.name).sort());
    const layer = hw.recurrentLayer(node.name);
    const [, w, r] = node.inputs.map((i) => model.graph.initializers.get(i));
    const op = name.includes('gru') ? 'GRU' : 'LSTM';
    expect([layer.op, layer.kind, layer.gate, layer.gate_rule, layer.direction, layer.layout]).toEqual(
      mode === 'pg' ? [op, 'gated', 'recurrent', 'knee', 'forward', 0] : [op, 'quantized', null, null, 'forward', 0],
    );
    expect(layer.gate_order).toEqual(op === 'GRU' ? ['z', 'r', 'h'] : ['i', 'o', 'f', 'c']);
    expect(layer.weights.codes.shape).toEqual(w!.dims);
    expect(layer.recurrent_weights.codes.shape).toEqual(r!.dims);
    expect(layer.weights.scale).toEqual([Math.fround(Math.max(...(w!.data() as Float32Array).map(Math.abs)))]);
    expect(layer.state_activation.scale).toBe(1);
    expect(layer.activation.bits).toBe(mode === 'pg' ? 4 : 8);
    if (layer.threshold) expect(hw.tensor(layer.threshold.float)).toEqual([...(model.graph.initializers.get(thresholdName(node.name))!.data() as Float32Array)]);
  });

  it("takes pg's gate decisions from pg's state at every step, and runs the recurrence to pg's outputs", () => {
    const node = model.graph.nodes.find(isPgRecurrentNode)!;
    const layer = hw.recurrentLayer(node.name);
    const [y, yh, yc] = node.outputs.map((o) => ours.outputs[o]);
    const [steps, , batch] = y.shape;
    // Step by step from pg's own h_{t-1}: the gate sees what pg's gate saw.
    const forced = evaluateRecurrent(hw, layer, values, pgState(y.data, layer, steps, batch));
    // The declared accumulator widths hold every sum.
    expect(forced.maxAbsInput).toBeLessThan(2 ** (layer.accumulator.input.bits - 1));
    expect(forced.maxAbsState).toBeLessThan(2 ** (layer.accumulator.state.bits - 1));
    if (mode === 'pg') {
      const mask = ours.gates.get(node.name)!.data;
      const statistic = ours.predictions.get(node.name)!.data;
      expect(mask.length).toBe(forced.gate.length);
      let open = 0;
      let differing = 0;
      let worst = 0;
      for (let i = 0; i < mask.length; i++) {
        open += mask[i];
        worst = Math.max(worst, Math.abs(forced.statistic[i] - statistic[i]));
        if (forced.gate[i] !== mask[i]) differing++;
      }
      console.log(
        `${name} ${node.name} (${node.opType}): ${mask.length - differing} of ${mask.length} gate decisions equal; ${differing} differ; statistic within ${worst.toExponential(2)} of pg's`,
      );
      expect(open).toBeGreaterThan(0);
      expect(open).toBeLessThan(mask.length / 2);
      // pg's z_hb is a float32 sum of dequantized products, the evaluator's the float32 steps of the document from
      // integer accumulators: the same value up to float32 rounding. A decision could differ only where the statistic
      // lies within that rounding of Δ; calibration keeps Δ halfway between samples, and none does here.
      expect(worst).toBeLessThan(1e-5);
      expect(differing).toBe(0);
    }
    // Free-running: the evaluator's own h and c from the first step.
    const free = evaluateRecurrent(hw, layer, values);
    const diff = (ref: Float32Array, mine: RecurrentResult['y']) => maxRelativeDifference(mine, ref);
    const outputs = Math.max(diff(y.data, free.y), diff(yh.data, free.yh), yc ? diff(yc.data, free.yc) : 0);
    const flip = firstCodeFlip(y.data, free.y, steps, layer.state_activation.bits);
    console.log(
      `${name} ${node.name} (${node.opType}): outputs max relative difference ${outputs.toExponential(2)}${flip ? `; h codes first differ at step ${flip.step}, pg's h·n ${flip.boundary.toExponential(2)} from the rounding boundary` : '; no h code differs'}`,
    );
    // The cell's sigmoid and tanh round their own way in each implementation, so h may differ in the last bit; that
    // moves an h code only where h·n lies on a rounding boundary (8-bit QLSTM: 255 levels), and from there the runs
    // differ by a code. Away from such a tie the outputs agree to 1e-4.
    if (outputs >= 1e-4) expect(flip?.boundary).toBeLessThan(1e-4);
    expect(outputs).toBeLessThan(flip ? 1e-3 : 1e-4);
  });
});

/** The built LSTM (GRU) converted (4/2/6 bits) with x's scale 1.5 and, gated, thresholds −0.6 (knee: |z_hb| < 0.6), marked calibrated. */
function builtRecurrent(kind: 'LSTM' | 'GRU', o: Options, mode: ConversionMode): Model {
  const { model } = convertModel(recurrentModel(kind, o), { bits: 4, hbits: 2, wbits: 6, actScale: 'static', mode, include: ['rnn'] });
  const inits = new Map(model.graph.initializers);
  const set = (name: string, v: number) => {
    const t = inits.get(name)!;
    inits.set(name, constTensor(name, 'float32', t.dims, new Float32Array(t.dims.reduce((a, b) => a * b, 1)).fill(v)));
  };
  const lstm = model.graph.nodes.find(isPgRecurrentNode)!;
  set(actScaleName(lstm.name), 1.5);
  if (mode === 'pg') set(thresholdName(lstm.name), -0.6);
  return { ...model, metadata: { ...model.metadata, 'pg.act_scale': 'static' }, graph: { ...model.graph, initializers: inits } };
}

/** The built layer through hw-json and the evaluator's own recurrence against pg: outputs, and every decision. */
async function checkBuilt(kind: 'LSTM' | 'GRU', label: string, o: Options): Promise<void> {
  for (const mode of ['pg', 'static'] as const) {
    const model = builtRecurrent(kind, o, mode);
    const out = join(dir, `${kind}-${label.replace(/[^a-z0-9]+/gi, '-')}-${mode}.json`);
    await exportFormat('hw-json').export(model, { output: out });
    const hw = new HwDescription(out);
    const layer = hw.recurrentLayer('rnn');
    const x = xFeed(o.layout).X;
    const batch = { x: x.data as Float32Array, shape: x.shape };
    const ours = runPg(
      model,
      batch,
      layer.outputs.filter((v) => v !== ''),
    );
    const mine = evaluateRecurrent(hw, layer, { X: { shape: x.shape, data: batch.x } });
    const results = [mine.y, mine.yh, mine.yc];
    for (const [i, name] of layer.outputs.entries()) {
      if (name !== '') expect(maxRelativeDifference(results[i], ours.outputs[name].data), `${mode} ${name}`).toBeLessThan(1e-4);
    }
    if (mode === 'static') continue;
    const mask = ours.gates.get('rnn')!.data;
    let open = 0;
    let differing = 0;
    for (let i = 0; i < mask.length; i++) {
      open += mask[i];
      if (mask[i] !== mine.gate[i]) differing++;
    }
    expect(open).toBeGreaterThan(mask.length / 10);
    expect(open).toBeLessThan(mask.length);
    expect(differing, `${differing} of ${mask.length} decisions differ`).toBe(0);
  }
}

// Every option pg's PGLSTM and PGGRU run, on one small layer built by core's test support: the evaluator's own
// recurrence from the first step (no code sits on a rounding boundary here) against pg, decisions and outputs.
describe('every option of a PGLSTM and a QLSTM: the evaluator against pg', () => {
  it.each(LSTM_OPTION_CASES)('%s', (label, o) => checkBuilt('LSTM', label, o));
});

describe('every option of a PGGRU and a QGRU: the evaluator against pg', () => {
  it.each(GRU_OPTION_CASES)('%s', (label, o) => checkBuilt('GRU', label, o));
});

describe('hw-json refusals of recurrent layers', () => {
  it('refuses a PGLSTM whose W is computed in the graph rather than stored, naming the node and the input; nothing written', async () => {
    const model = builtRecurrent('LSTM', { bias: true }, 'pg');
    const w = model.graph.initializers.get('W')!;
    const initializers = new Map(model.graph.initializers);
    initializers.delete('W');
    initializers.set('W_stored', { ...w, name: 'W_stored' });
    const identity = { name: 'w_copy', opType: 'Identity', domain: '', inputs: ['W_stored'], outputs: ['W'], attributes: {} };
    const edited: Model = { ...model, graph: { ...model.graph, initializers, nodes: [identity, ...model.graph.nodes] } };
    const out = join(dir, 'computed-w.json');
    const run = exportFormat('hw-json').export(edited, { output: out });
    await expect(run).rejects.toThrow(UnsupportedModelError);
    await expect(exportFormat('hw-json').export(edited, { output: out })).rejects.toThrow(/node 'rnn' \(PGLSTM\): its W 'W' must be an initializer/);
    expect(existsSync(out)).toBe(false);
  });
});
