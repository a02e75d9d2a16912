import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  initBackend,
  maxRelativeDifference,
  PG_DOMAIN,
  readModel,
  runBackend,
  UnsupportedModelError,
  writeModel,
  type Batch,
  type HostTensor,
  type Model,
} from '@pg/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportBackend, toStandardOnnx } from '../src/index.js';
import { calibratedGatedModel, fixtureModel, hasFixture, runPg, testBatch, type HostArray } from './support/gated-fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'pg-export-onnx-'));
let batch: Batch;

beforeAll(async () => {
  await initBackend('wasm');
  batch = await testBatch(64);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs a model file in ONNX Runtime (the reference runtime) and returns the named values. */
async function ort(model: Model, path: string, feeds: Record<string, HostTensor>, outputs: string[]): Promise<Record<string, HostTensor>> {
  await writeModel(model, path);
  const session = await runBackend('onnxruntime').load(await readModel(path));
  try {
    return await session.run(feeds, outputs);
  } finally {
    await session.dispose();
  }
}

/** A gated layer's values inside the exported graph: its inlined nodes are named `<layer>/...`. */
function inlinedLayer(exported: Model, layer: string): { nodes: Model['graph']['nodes']; gate: string; prediction: string; threshold: string } {
  const nodes = exported.graph.nodes.filter((n) => n.name.startsWith(`${layer}/`));
  const greater = nodes.filter((n) => n.opType === 'Greater');
  expect(greater).toHaveLength(1);
  const [prediction, reshaped] = greater[0].inputs;
  const reshape = nodes.find((n) => n.outputs[0] === reshaped)!;
  return { nodes, gate: greater[0].outputs[0], prediction, threshold: reshape.inputs[0] };
}

/**
 * The exported nodes of one gated layer as a model of its own, with the layer's input as graph input and
 * its gate, prediction and output as graph outputs. Nodes are the exported ones, unchanged: ONNX Runtime
 * computes what the export does, from exactly the input pg's layer received.
 */
function layerModel(exported: Model, layer: { input: string; output: string; name: string }, shape: number[]): { model: Model; gate: string; prediction: string; threshold: string } {
  const l = inlinedLayer(exported, layer.name);
  const used = new Set(l.nodes.flatMap((n) => n.inputs));
  const initializers = new Map([...exported.graph.initializers].filter(([k]) => used.has(k)));
  const graph = {
    ...exported.graph,
    nodes: l.nodes,
    initializers,
    inputs: [{ name: layer.input, dtype: 'float32' as const, shape }],
    outputs: [
      { name: l.gate, dtype: 'bool' as const },
      { name: l.prediction, dtype: 'float32' as const },
      { name: layer.output, dtype: 'float32' as const },
    ],
    valueInfo: new Map(),
  };
  return { model: { ...exported, graph }, gate: l.gate, prediction: l.prediction, threshold: l.threshold };
}

const cases = [
  { name: 'tiny-cnn', include: ['/fc/Gemm'] }, // the classifier gated too: covers PGGemm
  { name: 'resnet-fmnist', include: [] }, // QConv layers, residual adds
];

for (const c of cases) {
  describe.skipIf(!hasFixture(c.name))(`onnx export of ${c.name} (calibrated, static scale)`, () => {
    let gated: Model;
    let exported: Model;
    beforeAll(async () => {
      gated = await calibratedGatedModel(c.name, { include: c.include });
      const result = await exportBackend('onnx').export(gated, { output: join(dir, `${c.name}.onnx`) });
      expect(result.files.map((f) => f.role)).toEqual(['model']);
      exported = await readModel(result.files[0].path);
    });

    it('has standard ONNX ops only, no custom domain, opset >= 13', () => {
      expect(exported.graph.nodes.filter((n) => n.domain !== '' && n.domain !== 'ai.onnx')).toEqual([]);
      expect(exported.opsetImports.map((o) => o.domain)).not.toContain(PG_DOMAIN);
      expect(exported.opsetImports.find((o) => o.domain === '')!.version).toBeGreaterThanOrEqual(13);
      expect(exported.functions).toEqual([]);
      if (c.include.length) expect(gated.graph.nodes.find((n) => n.name === c.include[0])!.opType).toBe('PGGemm');
    });

    it("runs in ONNX Runtime bit for bit like ONNX Runtime runs pg's own gated file", async () => {
      const x = { [gated.graph.inputs[0].name]: { dtype: 'float32', shape: batch.shape, data: batch.x } as HostTensor };
      const out = gated.graph.outputs[0].name;
      const theirs = await ort(gated, join(dir, `${c.name}-pg.onnx`), x, [out]);
      const mine = await ort(exported, join(dir, `${c.name}-std.onnx`), x, [out]);
      expect(maxRelativeDifference(mine[out].data as Float32Array, theirs[out].data as Float32Array)).toBe(0);
    });

    it("matches pg's run: gate decisions layer by layer, outputs to 1e-5", async () => {
      const ours = runPg(gated, batch);
      const gatedNodes = gated.graph.nodes.filter((n) => n.domain === PG_DOMAIN && n.opType.startsWith('PG'));
      /** Samples where some gate decided differently (only at near-ties, checked below). */
      const flippedSamples = new Set<number>();
      for (const node of gatedNodes) {
        const input: HostArray = ours.layerInputs.get(node.name)!;
        const sub = layerModel(exported, { name: node.name, input: node.inputs[0], output: node.outputs[0] }, input.shape);
        const res = await ort(sub.model, join(dir, `${c.name}-layer.onnx`), { [node.inputs[0]]: { dtype: 'float32', shape: input.shape, data: input.data } }, [sub.gate, sub.prediction]);
        const mask = ours.gates.get(node.name)!;
        const ohbPg = ours.predictions.get(node.name)!.data;
        const ohbOrt = res[sub.prediction].data as Float32Array;
        const threshold = gated.graph.initializers.get(sub.threshold)!.data() as Float32Array;
        expect(res[sub.gate].shape).toEqual(mask.shape);
        // Same input, same prediction up to summation order.
        expect(maxRelativeDifference(ohbOrt, ohbPg)).toBeLessThan(1e-5);
        const [n, channels] = mask.shape;
        const perSample = mask.data.length / n;
        const spatial = perSample / channels;
        let scale = 0;
        for (const v of ohbPg) scale = Math.max(scale, Math.abs(v));
        let open = 0;
        const flips: { pg: number; ort: number; threshold: number }[] = [];
        for (let i = 0; i < mask.data.length; i++) {
          open += mask.data[i];
          if (Number(res[sub.gate].data[i]) === mask.data[i]) continue;
          const ch = Math.floor(i / spatial) % channels;
          flips.push({ pg: ohbPg[i], ort: ohbOrt[i], threshold: threshold[ch] });
          flippedSamples.add(Math.floor(i / perSample));
        }
        // Every differing decision is a near-tie: the prediction within float32 rounding (1e-6 of the layer's
        // largest prediction) of the threshold, where the summation order decides. None elsewhere.
        expect(flips.filter((f) => Math.abs(f.pg - f.threshold) > 1e-6 * scale || Math.abs(f.ort - f.threshold) > 1e-6 * scale)).toEqual([]);
        expect(flips.length).toBeLessThanOrEqual(mask.data.length * 1e-4);
        // The gate really selects: some outputs updated, most not (thresholds at the 85% quantile).
        expect(open).toBeGreaterThan(0);
        expect(open).toBeLessThan(mask.data.length * 0.5);
        console.log(`${c.name} ${node.name}: ${flips.length} of ${mask.data.length} gate decisions differ (near-ties)`);
      }

      // End to end, each runtime feeds its own values forward: a near-tie can flip a gate in one of them
      // and change everything after it in that sample. The logits of every sample whose gate decisions all
      // agreed end to end match to 1e-5 relative; the others are counted.
      const out = gated.graph.outputs[0].name;
      const gates = gatedNodes.map((node) => inlinedLayer(exported, node.name).gate);
      const probe = { ...exported, graph: { ...exported.graph, outputs: [...exported.graph.outputs, ...gates.map((name) => ({ name, dtype: 'bool' as const }))] } };
      const x = { [gated.graph.inputs[0].name]: { dtype: 'float32', shape: batch.shape, data: batch.x } as HostTensor };
      const res = await ort(probe, join(dir, `${c.name}-gates.onnx`), x, [out, ...gates]);
      const differing = new Set<number>();
      gatedNodes.forEach((node, k) => {
        const mask = ours.gates.get(node.name)!;
        const perSample = mask.data.length / batch.shape[0];
        for (let i = 0; i < mask.data.length; i++) if (Number(res[gates[k]].data[i]) !== mask.data[i]) differing.add(Math.floor(i / perSample));
      });
      const theirs = res[out].data as Float32Array;
      const mine = ours.outputs[out].data;
      const classes = mine.length / batch.shape[0];
      const agreed = [...Array(batch.shape[0]).keys()].filter((s) => !differing.has(s));
      const pick = (a: Float32Array) => Float32Array.from(agreed.flatMap((s) => [...a.subarray(s * classes, (s + 1) * classes)]));
      expect(agreed.length).toBeGreaterThanOrEqual(batch.shape[0] / 2);
      expect(maxRelativeDifference(pick(theirs), pick(mine))).toBeLessThan(1e-5);
      console.log(
        `${c.name}: layer by layer ${flippedSamples.size} sample(s) with a near-tie; end to end ${agreed.length} of ${batch.shape[0]} samples with all gate decisions equal, ` +
          `logits max rel diff on them ${maxRelativeDifference(pick(theirs), pick(mine))}, on all ${maxRelativeDifference(theirs, mine)}`,
      );
      // The export is the gated model, not the float one.
      const float = runPg(await readModel(fixtureModel(c.name)), batch);
      expect(maxRelativeDifference(theirs, float.outputs[out].data)).toBeGreaterThan(1e-4);
    });
  });
}

describe('toStandardOnnx', () => {
  it('declares a model at opset 11 as opset 13 when none of its ops changed meaning in between', async () => {
    const float = await readModel(fixtureModel('tiny-cnn'));
    const at11: Model = { ...float, opsetImports: [{ domain: '', version: 11 }] };
    const std = toStandardOnnx(at11);
    expect(std.raisedFrom).toBe(11);
    expect(std.model.opsetImports).toEqual([{ domain: '', version: 13 }]);
    expect(std.inlined).toBe(0);
  });

  it('refuses a model at opset 11 with an op whose meaning changed by 13, naming the op', async () => {
    const float = await readModel(fixtureModel('tiny-cnn'));
    const softmax = { name: 'sm', opType: 'Softmax', domain: '', inputs: ['logits'], outputs: ['probs'], attributes: {} };
    const at11: Model = { ...float, opsetImports: [{ domain: '', version: 11 }], graph: { ...float.graph, nodes: [...float.graph.nodes, softmax] } };
    expect(() => toStandardOnnx(at11)).toThrow(UnsupportedModelError);
    expect(() => toStandardOnnx(at11)).toThrow(/Softmax/);
  });
});
