import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { convertModel, initBackend, maxRelativeDifference, PG_DOMAIN, readModel, UsageError, type Batch, type Model } from '@pg/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportBackend, tensorFilePath } from '../src/index.js';
import { HwDescription, evaluateLayer } from './support/integer-evaluator.js';
import { calibratedGatedModel, fixtureModel, hasFixture, runPg, testBatch } from './support/gated-fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'pg-export-hw-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeAll(async () => {
  await initBackend('wasm');
});

const cases = [
  { name: 'tiny-cnn', include: ['/fc/Gemm'], batch: 32 }, // two gated convs and a gated Gemm
  { name: 'resnet-fmnist', include: [], batch: 16 }, // three gated convs, five QConv (incl. 1x1 stride-2 shortcuts)
];

for (const c of cases) {
  describe.skipIf(!hasFixture(c.name))(`hw-json of ${c.name} (calibrated, static scale)`, () => {
    let gated: Model;
    let hw: HwDescription;
    let batch: Batch;
    beforeAll(async () => {
      gated = await calibratedGatedModel(c.name, { include: c.include });
      const out = join(dir, `${c.name}.json`);
      const result = await exportBackend('hw-json').export(gated, { output: out });
      expect(result.files.map((f) => [f.path, f.role])).toEqual([
        [tensorFilePath(out), 'tensors'],
        [out, 'description'],
      ]);
      hw = new HwDescription(out);
      batch = await testBatch(c.batch);
    });

    it('describes every node: pg layers in integers, the rest as ONNX ops with their float parameters', () => {
      const pgNodes = gated.graph.nodes.filter((n) => n.domain === PG_DOMAIN);
      expect(hw.model.nodes.map((n) => n.name).sort()).toEqual(gated.graph.nodes.map((n) => n.name).sort());
      for (const node of pgNodes) expect(hw.layer(node.name).kind).toBe(node.opType.startsWith('PG') ? 'gated' : 'quantized');
      for (const n of hw.model.nodes) {
        if (n.kind !== 'float') continue;
        const initializers = n.inputs.filter((i) => gated.graph.initializers.has(i));
        expect(Object.keys(n.params).sort()).toEqual([...new Set(initializers)].sort());
        // The float parameters are the model's, value for value.
        for (const [name, ref] of Object.entries(n.params)) expect(hw.tensor(ref)).toEqual([...(gated.graph.initializers.get(name)!.data() as Float32Array)]);
      }
    });

    it("reproduces pg's gate decisions in integer arithmetic (all that pg's float32 rounding resolves) and its layer outputs", () => {
      const pgNodes = gated.graph.nodes.filter((n) => n.domain === PG_DOMAIN);
      const ours = runPg(gated, batch, pgNodes.map((n) => n.outputs[0]));
      for (const node of pgNodes) {
        const layer = hw.layer(node.name);
        const input = ours.layerInputs.get(node.name)!;
        expect(input.shape.slice(1)).toEqual(layer.input_shape);
        const r = evaluateLayer(hw, layer, input.data, batch.shape[0]);
        const pgOut = ours.outputs[node.outputs[0]];
        expect(pgOut.shape).toEqual(r.shape);
        // The declared accumulator width holds every sum.
        expect(r.maxAbsAcc).toBeLessThan(2 ** (layer.accumulator.bits - 1));

        if (layer.kind === 'gated') {
          const mask = ours.gates.get(node.name)!.data;
          const bias = layer.bias ? hw.tensor(layer.bias.float) : undefined;
          const delta = hw.tensor(layer.threshold!.float);
          const channels = layer.output_shape[0];
          const spatial = r.accHb.length / batch.shape[0] / channels;
          const S = layer.accumulator.scale;
          const K = layer.accumulator.fan_in;
          let open = 0;
          const differ: { exactMargin: number; roundingBound: number }[] = [];
          for (let i = 0; i < mask.length; i++) {
            open += r.gate[i];
            if (r.gate[i] === mask[i]) continue;
            // pg's prediction is a float32 sum of K products of float32 operands (each within 2^-23 of
            // k * s_w / n_w and q * s_x / n), plus the bias: its error is at most (K + 4) * 2^-23 times
            // S * sum |q_hb * k| + |b|. A decision can differ only where the exact prediction is that close.
            const c = Math.floor(i / spatial) % channels;
            const b = bias?.[c] ?? 0;
            differ.push({ exactMargin: Math.abs(S * r.accHb[i] + b - delta[c]), roundingBound: (K + 4) * 2 ** -23 * (S * r.absHb[i] + Math.abs(b)) });
          }
          expect(differ.filter((d) => d.exactMargin > d.roundingBound)).toEqual([]);
          expect(differ.length).toBeLessThanOrEqual(mask.length * 1e-4);
          console.log(`${c.name} ${node.name}: ${mask.length - differ.length} of ${mask.length} gate decisions equal; ${differ.length} differ, all within float32 rounding of the threshold`);
          expect(open).toBeGreaterThan(0);
          expect(open).toBeLessThan(mask.length * 0.5);
          // The prediction in integers is pg's prediction: S * acc_hb + b.
          const predicted = Float64Array.from(r.accHb, (a, i) => S * a + (bias?.[Math.floor(i / spatial) % channels] ?? 0));
          expect(maxRelativeDifference(predicted, ours.predictions.get(node.name)!.data)).toBeLessThan(1e-5);
        }
        // Outputs where the decisions agree: the float form to float32 tolerance; the all-integer form
        // (bias rounded to accumulator units) within half an accumulator unit more.
        const pgMask = ours.gates.get(node.name)?.data;
        const agree = (i: number) => pgMask === undefined || pgMask[i] === r.gate[i];
        const keep = <T extends Float64Array | Float32Array>(a: T) => a.filter((_, i) => agree(i));
        console.log(node.name, layer.kind, 'output max rel diff', maxRelativeDifference(keep(r.output), keep(pgOut.data)));
        expect(maxRelativeDifference(keep(r.output), keep(pgOut.data))).toBeLessThan(1e-5);
        let worst = 0;
        for (let i = 0; i < r.outputAcc.length; i++) if (agree(i)) worst = Math.max(worst, Math.abs(r.outputAcc[i] * layer.accumulator.scale - pgOut.data[i]) - Math.abs(r.output[i] - pgOut.data[i]));
        expect(worst).toBeLessThanOrEqual(layer.accumulator.scale * 0.5 * (1 + 1e-9));
      }
    });
  });
}

describe('hw-json refusals', () => {
  it('refuses a model without pg layers, saying to convert it', async () => {
    const float = await readModel(fixtureModel('tiny-cnn'));
    await expect(exportBackend('hw-json').export(float, { output: join(dir, 'float.json') })).rejects.toThrow(/not a gated model/);
  });

  it('refuses dynamic activation scales, naming --act-scale static', async () => {
    const { model } = convertModel(await readModel(fixtureModel('tiny-cnn')), { bits: 4, hbits: 2, wbits: 8, actScale: 'dynamic' });
    const err = await exportBackend('hw-json').export(model, { output: join(dir, 'dyn.json') }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).action).toMatch(/--act-scale static/);
  });

  it('refuses weights wider than 16 bits', async () => {
    const calibrated = { bits: 4, hbits: 2, wbits: 32, actScale: 'static' as const };
    const { model } = convertModel(await readModel(fixtureModel('tiny-cnn')), calibrated);
    const marked: Model = { ...model, metadata: { ...model.metadata, 'pg.act_scale': 'static' } };
    await expect(exportBackend('hw-json').export(marked, { output: join(dir, 'w32.json') })).rejects.toThrow(/--wbits 32/);
  });
});
