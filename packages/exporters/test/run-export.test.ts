import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  initBackend,
  maxRelativeDifference,
  openDataset,
  PG_DOMAIN,
  readModel,
  reportModel,
  runEngine,
  writeModel,
  type Batch,
  type HostTensor,
  type Model,
} from '@pg/core/internal';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toStandardOnnx } from '../src/index.js';
import { calibratedGatedModel, FMNIST_NORM, hasFixture, runPg, testBatch } from './support/gated-fixtures.js';

// pg runs what it exports: `pg run` (the interpreter engine on wasm) and `pg report` on the standard-ONNX export (the
// gated layers inlined as Sign, Round, Floor, Greater, Where... ops) give what they give on the gated model.

const dir = mkdtempSync(join(tmpdir(), 'pg-run-export-'));
let batch: Batch;

beforeAll(async () => {
  await initBackend('wasm');
  batch = await testBatch(200);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `outputs` of the model file at `path` on the batch, as `pg run` computes them (the interpreter engine on wasm). */
async function pgRun(path: string, outputs: string[]): Promise<Record<string, HostTensor>> {
  const session = await runEngine('wasm').load(await readModel(path));
  try {
    const model = await readModel(path);
    return await session.run({ [model.graph.inputs[0].name]: { dtype: 'float32', shape: batch.shape, data: batch.x } }, outputs);
  } finally {
    await session.dispose();
  }
}

const argmax = (logits: ArrayLike<number>, classes: number): number[] =>
  Array.from({ length: logits.length / classes }, (_, i) => {
    let best = 0;
    for (let k = 1; k < classes; k++) if (logits[i * classes + k] > logits[i * classes + best]) best = k;
    return best;
  });

describe.each([
  { label: 'float stem', firstLayerBits: undefined },
  { label: 'stem at 8 bits', firstLayerBits: 8 },
])('the standard-ONNX export of resnet-fmnist ($label), run by pg', ({ firstLayerBits }) => {
  let gated: Model;
  let exported: Model;
  let gatedPath: string;
  let exportedPath: string;
  beforeAll(async () => {
    if (!hasFixture('resnet-fmnist')) return;
    gated = await calibratedGatedModel('resnet-fmnist', { firstLayerBits });
    const stem = `resnet-${firstLayerBits ?? 'float'}`;
    // As `pg convert` writes the gated model, and as `pg export --format onnx` writes its standard form.
    gatedPath = join(dir, `${stem}-gated.onnx`);
    exportedPath = join(dir, `${stem}-std.onnx`);
    await writeModel(gated, gatedPath);
    await writeModel(toStandardOnnx(gated).model, exportedPath);
    exported = await readModel(exportedPath);
  });

  it.skipIf(!hasFixture('resnet-fmnist'))('pg run: the same logits, predictions and gate decisions as on the gated model', async () => {
    expect(exported.graph.nodes.some((n) => n.domain === PG_DOMAIN)).toBe(false);
    const ops = new Set(exported.graph.nodes.map((n) => n.opType));
    for (const op of ['Sign', 'Round', 'Floor', 'Greater', 'Cast', 'ReduceMax']) expect(ops.has(op), op).toBe(true);
    const out = gated.graph.outputs[0].name;
    // Each gated layer's decisions in the export: the Greater of its inlined nodes (named `<layer>/...`).
    const layers = gated.graph.nodes.filter((n) => n.domain === PG_DOMAIN && n.opType.startsWith('PG')).map((n) => n.name);
    const gateOf = (layer: string) => exported.graph.nodes.find((n) => n.name.startsWith(`${layer}/`) && n.opType === 'Greater')!.outputs[0];
    const probe: Model = { ...exported, graph: { ...exported.graph, outputs: [...exported.graph.outputs, ...layers.map((l) => ({ name: gateOf(l), dtype: 'bool' as const }))] } };
    const probePath = join(dir, 'probe.onnx');
    await writeModel(probe, probePath);

    const fromGated = await pgRun(gatedPath, [out]);
    const fromExport = await pgRun(probePath, [out, ...layers.map(gateOf)]);
    const a = fromGated[out].data as Float32Array;
    const b = fromExport[out].data as Float32Array;
    const classes = fromGated[out].shape[1];
    expect(argmax(b, classes)).toEqual(argmax(a, classes));
    expect(maxRelativeDifference(b, a)).toBeLessThan(1e-5);
    // The gated model's own decisions (observed in its kernels) against the export's Greater outputs.
    const ours = runPg(gated, batch, [out]);
    let decisions = 0;
    let differing = 0;
    for (const layer of layers) {
      const mask = ours.gates.get(layer)!.data;
      const theirs = fromExport[gateOf(layer)].data;
      expect(theirs.length).toBe(mask.length);
      decisions += mask.length;
      for (let i = 0; i < mask.length; i++) if (Number(theirs[i]) !== mask[i]) differing++;
    }
    console.log(
      `resnet-fmnist (${firstLayerBits ? `stem at ${firstLayerBits} bits` : 'float stem'}): ${differing} of ${decisions} gate decisions differ between the gated model and its export, in pg; logits max rel diff ${maxRelativeDifference(b, a)}`,
    );
    expect(differing).toBe(0);
  });

  it.skipIf(!hasFixture('resnet-fmnist'))('pg report: the same accuracy over the bundled test set', async () => {
    const test = await openDataset('fashion-mnist:test?source=bundled', FMNIST_NORM);
    const onGated = await reportModel(gated, test, { batchSize: 250 });
    const onExport = await reportModel(exported, test, { batchSize: 250 });
    expect(onGated.samples).toBe(1000);
    expect(onExport.samples).toBe(1000);
    expect(onExport.accuracy).toBe(onGated.accuracy);
    // The export has no pg layers: its report counts every layer as a float Conv/Gemm.
    expect(onGated.layers.some((l) => l.gated)).toBe(true);
  });
});
