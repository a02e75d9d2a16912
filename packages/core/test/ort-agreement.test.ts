import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  PG_DOMAIN,
  convertModel,
  firstBatch,
  functionsFor,
  initBackend,
  maxRelativeDifference,
  openDataset,
  readModel,
  writeModel,
  type Batch,
  type Model,
} from '../src/internal.js';
import { FMNIST_NORM, expectedOutputs, fixtureModel, fixtureSkipNote, hasFixture } from './fixtures.js';
import { ortLayer, runOrt, runOrtGates, runPgGates, sameValues } from './support/gate-runs.js';

const dir = mkdtempSync(join(tmpdir(), 'pg-ort-'));
let batch: Batch;

beforeAll(async () => {
  await initBackend('wasm');
  const ds = await openDataset('fashion-mnist:test?source=bundled', FMNIST_NORM);
  batch = await firstBatch(ds.batches(16, { limit: 16 }));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function runPg(model: Model, b: Batch): Float32Array {
  return runPgGates(model, b).output;
}

for (const name of ['tiny-cnn', 'resnet-fmnist']) {
  describe.skipIf(!hasFixture(name))(`${name}: pg agrees with PyTorch and ONNX Runtime${fixtureSkipNote(name)}`, () => {
    it('runs the float model like PyTorch did at export', async () => {
      const model = await readModel(fixtureModel(name));
      const ours = runPg(model, batch);
      expect(maxRelativeDifference(ours, expectedOutputs(name).logits.flat())).toBeLessThan(1e-4);
      expect(maxRelativeDifference(ours, await runOrt(fixtureModel(name), batch))).toBeLessThan(1e-4);
    });

    for (const actScale of ['static', 'dynamic'] as const) {
      it(`writes a gated model (${actScale} scale) that ONNX Runtime loads and runs to the same outputs`, async () => {
        const model = await readModel(fixtureModel(name));
        const { model: gated, layers } = convertModel(model, { bits: 4, hbits: 2, wbits: 8, actScale });
        expect(layers.some((l) => l.gated)).toBe(true);
        const path = join(dir, `${name}-${actScale}.onnx`);
        await writeModel(gated, path);
        const reread = await readModel(path);
        const ours = runPg(reread, batch);
        const theirs = await runOrt(path, batch);
        expect(maxRelativeDifference(ours, theirs)).toBeLessThan(1e-4);
        // and the gating changed something: the gated model is not the float one
        expect(maxRelativeDifference(ours, runPg(model, batch))).toBeGreaterThan(1e-4);
      });

      it(`takes every gate decision of the gated model (${actScale} scale) exactly as ONNX Runtime does`, async () => {
        const model = await readModel(fixtureModel(name));
        // The plain gates with a float stem (residual gates have their own test below, with the 8-bit stem).
        const { model: gated } = convertModel(model, { bits: 4, hbits: 2, wbits: 8, actScale, gateResidual: false });
        const ours = runPgGates(gated, batch);
        const theirs = await runOrtGates(gated, join(dir, `${name}-${actScale}-gates.onnx`), batch);
        expect(theirs.gates.size).toBeGreaterThan(0);
        let endToEnd = 0;
        for (const [layer, mask] of theirs.gates) {
          const mine = ours.gates.get(layer)!;
          expect(mine.length).toBe(mask.length);
          // Given the same input, ONNX Runtime computes pg's prediction to the last bit (an integer
          // accumulation scaled by the same float32 ops) and so every gate decision.
          const input = ours.inputs.get(layer)!;
          const alone = await ortLayer(gated, layer, input.data, input.shape, join(dir, `${name}-${actScale}-layer.onnx`));
          expect(sameValues(alone.prediction, ours.predictions.get(layer)!), `${layer}: prediction from the same input`).toBe(true);
          let open = 0;
          let differing = 0;
          for (let i = 0; i < mask.length; i++) {
            open += mine[i];
            if (alone.gate[i] !== mine[i]) differing++;
            if (mask[i] !== mine[i]) endToEnd++;
          }
          // Thresholds at 0 (unfitted): some outputs open, some not.
          expect(open).toBeGreaterThan(0);
          expect(open).toBeLessThan(mask.length);
          expect(differing, `${layer}: ${differing} of ${mask.length} decisions differ from the same input`).toBe(0);
        }
        // End to end each runtime feeds its own values on: the float stem (and, with a dynamic scale, the
        // per-sample max of its output) differ in the last bit, which can change a code. On these samples no
        // decision changes.
        console.log(`${name} (${actScale}): end to end ${endToEnd} gate decisions differ`);
        expect(endToEnd).toBe(0);
        expect(maxRelativeDifference(ours.output, theirs.output)).toBeLessThan(1e-5);
      });

      it(`with --first-layer-bits 8 (${actScale} scale), every gated layer gets the same float32 input in both runtimes end to end`, async () => {
        const model = await readModel(fixtureModel(name));
        const { model: gated } = convertModel(model, { bits: 4, hbits: 2, wbits: 8, actScale, firstLayerBits: 8 });
        expect(gated.graph.nodes[0].opType).toBe('QConv');
        const ours = runPgGates(gated, batch);
        const theirs = await runOrtGates(gated, join(dir, `${name}-${actScale}-first8.onnx`), batch);
        expect(theirs.inputs.size).toBeGreaterThan(0);
        // The stem is an integer accumulation too: from the model input to every gate each op is exact or
        // elementwise, so the inputs (and with them the codes, a dynamic scale's max, the predictions and the
        // decisions) are the same float32 values. With the stem float they differ (gated-format.md).
        for (const [layer, input] of theirs.inputs) {
          expect(sameValues(input.data, ours.inputs.get(layer)!.data), `${layer}: input end to end`).toBe(true);
          expect(sameValues(theirs.predictions.get(layer)!, ours.predictions.get(layer)!), `${layer}: prediction end to end`).toBe(true);
          expect(sameValues(theirs.gates.get(layer)!, ours.gates.get(layer)!), `${layer}: decisions end to end`).toBe(true);
        }
      });
    }

    it("--mode seernet: ONNX Runtime takes pg's gate decisions and writes the same outputs, zero where the gate is off and PG's B-bit result where it passes", async () => {
      const model = await readModel(fixtureModel(name));
      const opts = { bits: 4, hbits: 2, wbits: 8, actScale: 'dynamic' as const, firstLayerBits: 8 };
      const { model: seer } = convertModel(model, { ...opts, mode: 'seernet' });
      const { model: pg } = convertModel(model, opts);
      expect(seer.functions.find((f) => f.name === 'PGConv')!.attributes).toContain('recompute');
      const ours = runPgGates(seer, batch);
      const theirs = await runOrtGates(seer, join(dir, `${name}-seernet.onnx`), batch);
      const pgRun = runPgGates(pg, batch);
      expect(theirs.gates.size).toBeGreaterThan(0);
      const first = seer.graph.nodes.find((n) => theirs.gates.has(n.name))!.name;
      for (const [layer, mask] of theirs.gates) {
        expect(sameValues(theirs.inputs.get(layer)!.data, ours.inputs.get(layer)!.data), `${layer}: input end to end`).toBe(true);
        expect(sameValues(mask, ours.gates.get(layer)!), `${layer}: decisions end to end`).toBe(true);
        expect(sameValues(theirs.layerOutputs.get(layer)!, ours.layerOutputs.get(layer)!), `${layer}: output end to end`).toBe(true);
        const y = ours.layerOutputs.get(layer)!;
        const m = ours.gates.get(layer)!;
        // pg's layer in PG form, fed the same input (the first gated layer: everything before it is the same).
        const pgY = layer === first ? pgRun.layerOutputs.get(layer)! : undefined;
        let open = 0;
        let zeroWhereOff = 0;
        let pgWhereOpen = 0;
        let keptPrediction = 0;
        for (let i = 0; i < y.length; i++) {
          if (m[i] === 1) {
            open++;
            if (pgY && y[i] === pgY[i]) pgWhereOpen++;
          } else {
            if (y[i] === 0) zeroWhereOff++;
            if (pgY && pgY[i] !== 0) keptPrediction++;
          }
        }
        expect(open).toBeGreaterThan(0);
        expect(zeroWhereOff, `${layer}: gated-off outputs are zero`).toBe(y.length - open);
        if (pgY) {
          expect(pgWhereOpen, `${layer}: where the gate passes, SeerNet's output is PG's full B-bit result`).toBe(open);
          // PG keeps the prediction where SeerNet writes zero: the modes differ only there.
          expect(keptPrediction).toBeGreaterThan(0);
        }
      }
      expect(maxRelativeDifference(ours.output, theirs.output)).toBeLessThan(1e-5);
    });

    for (const actScale of ['static', 'dynamic'] as const) {
      it(`with --gate-residual and --first-layer-bits 8 (${actScale} scale), takes every residual gate's decision as ONNX Runtime does, alone and end to end`, async () => {
        const model = await readModel(fixtureModel(name));
        const { model: gated, layers } = convertModel(model, { bits: 4, hbits: 2, wbits: 8, actScale, firstLayerBits: 8, gateResidual: true });
        const residual = gated.graph.nodes.filter((n) => n.opType === 'PGResidualConv');
        // tiny-cnn has no residual Add; the ResNet gates every block's second conv on the sum.
        expect(residual.length).toBe(name === 'resnet-fmnist' ? 3 : 0);
        expect(layers.filter((l) => l.gate === 'residual').map((l) => l.name)).toEqual(residual.map((n) => n.name));
        const ours = runPgGates(gated, batch);
        const theirs = await runOrtGates(gated, join(dir, `${name}-${actScale}-residual.onnx`), batch);
        expect(maxRelativeDifference(ours.output, theirs.output)).toBeLessThan(1e-5);
        for (const node of residual) {
          const layer = node.name;
          const offset = ours.offsets.get(layer)!;
          expect(offset.data.length).toBe(ours.predictions.get(layer)!.length);
          // Alone, from the same input and offset: the same sum O_hb + offset to the bit, the same decisions.
          const input = ours.inputs.get(layer)!;
          const alone = await ortLayer(gated, layer, input.data, input.shape, join(dir, `${name}-${actScale}-residual-layer.onnx`), offset);
          expect(sameValues(alone.prediction, ours.predictions.get(layer)!), `${layer}: O_hb + offset from the same input`).toBe(true);
          expect(sameValues(alone.gate, ours.gates.get(layer)!), `${layer}: decisions from the same input`).toBe(true);
          // The offset changes decisions: gating on O_hb alone would decide otherwise somewhere.
          const sum = ours.predictions.get(layer)!;
          expect(sum.some((v, i) => v > 0 !== sum[i] - offset.data[i] > 0)).toBe(true);
        }
        // End to end: with the stem quantized, every gated layer gets the same input and takes the same decisions.
        for (const [layer, input] of theirs.inputs) {
          expect(sameValues(input.data, ours.inputs.get(layer)!.data), `${layer}: input end to end`).toBe(true);
          expect(sameValues(theirs.predictions.get(layer)!, ours.predictions.get(layer)!), `${layer}: compared value end to end`).toBe(true);
          expect(sameValues(theirs.gates.get(layer)!, ours.gates.get(layer)!), `${layer}: decisions end to end`).toBe(true);
        }
      });
    }

    it('runs a format-1 file (dequantize, then convolve) in the form it was written in', async () => {
      const model = await readModel(fixtureModel(name));
      // Format 1 has no residual gate (it came with version 2): the plain placement.
      const { model: v2 } = convertModel(model, { bits: 4, hbits: 2, wbits: 8, actScale: 'dynamic', gateResidual: false });
      const declared1 = { ...v2, opsetImports: v2.opsetImports.map((o) => (o.domain === PG_DOMAIN ? { ...o, version: 1 } : o)) };
      const v1: Model = { ...declared1, functions: functionsFor(declared1), metadata: { ...v2.metadata, 'pg.format_version': '1' } };
      // The version-1 bodies convolve dequantized values; version 2 convolves integer codes.
      expect(v1.functions.find((f) => f.name === 'PGConv')!.docString).toMatch(/Conv\(x_hb, Wq\)/);
      expect(v2.functions.find((f) => f.name === 'PGConv')!.docString).toMatch(/Conv\(q_hb, k\)/);
      const path = join(dir, `${name}-v1.onnx`);
      await writeModel(v1, path);
      const reread = await readModel(path);
      const ours1 = runPg(reread, batch);
      expect(maxRelativeDifference(ours1, await runOrt(path, batch))).toBeLessThan(1e-4);
      // pg ran it in the version-1 form: its float32 results differ (in the last bits, or more where a
      // near-tie decision went the other way) from version 2's.
      expect(maxRelativeDifference(ours1, runPg(v2, batch))).toBeGreaterThan(0);
    });
  });
}
