import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Executor, convertModel, initBackend, maxRelativeDifference, openDataset, readModel, writeModel, type Batch } from '../src/index.js';
import { FMNIST_NORM, expectedOutputs, fixtureModel, hasFixture } from './fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'pg-ort-'));
let batch: Batch;

beforeAll(async () => {
  await initBackend('wasm');
  const ds = await openDataset('fashion-mnist:test?source=bundled', FMNIST_NORM);
  batch = [...ds.batches(16, { limit: 16 })][0];
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function runOrt(path: string, b: Batch): Promise<Float32Array> {
  const sess = await ort.InferenceSession.create(path);
  const out = await sess.run({ [sess.inputNames[0]]: new ort.Tensor('float32', b.x, b.shape) });
  return out[sess.outputNames[0]].data as Float32Array;
}

function runPg(model: Awaited<ReturnType<typeof readModel>>, b: Batch): Float32Array {
  const exec = new Executor(model);
  try {
    return tf.tidy(() => {
      const out = exec.run({ [model.graph.inputs[0].name]: tf.tensor(b.x, b.shape) });
      return Object.values(out)[0].dataSync() as Float32Array;
    });
  } finally {
    exec.dispose();
  }
}


for (const name of ['tiny-cnn', 'resnet-fmnist']) {
  describe.skipIf(!hasFixture(name))(`${name}: pg agrees with PyTorch and ONNX Runtime`, () => {
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
    }
  });
}
