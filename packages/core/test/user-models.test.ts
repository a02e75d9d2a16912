import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Executor,
  FINETUNE_DEFAULTS,
  calibrate,
  convertModel,
  finetune,
  firstBatch,
  initBackend,
  opRegistry,
  maxRelativeDifference,
  openDataset,
  readModel,
  reportModel,
  writeModel,
  type Batch,
  type ConvertResult,
  type Dataset,
  type Model,
} from '../src/internal.js';
import { FMNIST_NORM, expectedOutputs, fixtureModel, hasFixture } from './fixtures.js';

// Models users bring in shapes other than the bundled ResNet's (fixtures/make_user_models.py): BatchNorm left
// unfolded with negative scales, an MLP behind Flatten, normalisation inside the graph, an NHWC input. Each
// must be placed right, convert, fine-tune a few steps, and run in pg as in ONNX Runtime.

const dir = mkdtempSync(join(tmpdir(), 'pg-user-models-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Fashion-MNIST laid out for an NHWC model: with one channel, [N,1,28,28] and [N,28,28,1] are the same floats. */
function asNhwc(ds: Dataset): Dataset {
  return {
    name: `${ds.name} as NHWC`,
    size: ds.size,
    sampleShape: [28, 28, 1],
    numClasses: ds.numClasses,
    hasLabels: ds.hasLabels,
    labels: ds.labels,
    async *batches(size, opts) {
      for await (const b of ds.batches(size, opts)) yield { ...b, shape: [b.shape[0], 28, 28, 1] };
    },
  };
}

interface Case {
  name: string;
  /** How the model's input is prepared: normalised outside (FMNIST_NORM) or pixel / 255 (it normalises itself). */
  norm: { mean: number[]; std: number[] };
  nhwc?: boolean;
  /** What placement must find, per layer name (regexp of the reason) or per role. */
  check: (c: ConvertResult) => void;
}

const reason = (c: ConvertResult, name: string) => c.layers.find((l) => l.name === name)?.reason ?? `(no layer ${name})`;
const role = (c: ConvertResult, name: string) => {
  const l = c.layers.find((x) => x.name === name);
  return l === undefined ? undefined : l.gated ? 'gate' : l.bits === null ? 'float' : 'quantize';
};

const cases: Case[] = [
  {
    name: 'resnet-bn-unfolded',
    norm: FMNIST_NORM,
    check: (c) => {
      expect(c.batchNormalization.kept).toEqual([]);
      expect(c.batchNormalization.folded).toHaveLength(expectedOutputs('resnet-bn-unfolded').batch_normalization_nodes!);
      expect(c.batchNormalization.folded.reduce((a, f) => a + f.negativeScales, 0)).toBe(expectedOutputs('resnet-bn-unfolded').negative_bn_scales);
      expect(c.model.graph.nodes.map((n) => n.opType)).not.toContain('BatchNormalization');
      expect(reason(c, '/layer1/conv1/Conv')).toMatch(
        /^output feeds Relu: gated; BatchNormalization '\/layer1\/bn1\/BatchNormalization' folded in \(\d+ channel\(s\) with a negative scale\)/,
      );
      // the block's second conv, its BN folded, is gated on the residual sum (the default)
      expect(role(c, '/layer1/conv2/Conv')).toBe('gate');
      expect(reason(c, '/layer1/conv2/Conv')).toMatch(/^output \+ Add\('[^']+'\) feeds Relu: gated on the sum.*BatchNormalization '\/layer1\/bn2\/BatchNormalization' folded in/);
      expect(reason(c, '/conv1/Conv')).toMatch(/^first layer: reads the model input, kept float; BatchNormalization .* folded in/);
      expect(c.layers.at(-1)).toMatchObject({ op: 'Gemm', gated: false, bits: null, reason: 'classifier: produces a model output, kept float' });
    },
  },
  {
    name: 'mlp-fmnist',
    norm: FMNIST_NORM,
    check: (c) => {
      expect(c.layers.map((l) => l.op)).toEqual(['Gemm', 'Gemm', 'Gemm']);
      expect(c.layers[0]).toMatchObject({ gated: false, bits: null, reason: 'first layer: reads the model input through Flatten, kept float' });
      expect(c.layers[1]).toMatchObject({ gated: true, reason: 'output feeds Relu: gated' });
      expect(c.layers[2]).toMatchObject({ gated: false, bits: null, reason: 'classifier: produces a model output, kept float' });
    },
  },
  {
    name: 'normalize-in-graph',
    norm: { mean: [0], std: [1] },
    check: (c) => {
      expect(c.layers[0]).toMatchObject({ gated: false, bits: null, reason: 'first layer: reads the model input through Sub → Div, kept float' });
      expect(c.layers.filter((l) => l.gated).length).toBe(2);
      expect(c.layers.at(-1)).toMatchObject({ op: 'Gemm', gated: false, bits: null });
    },
  },
  {
    name: 'nhwc-input',
    norm: FMNIST_NORM,
    nhwc: true,
    check: (c) => {
      expect(c.layers[0]).toMatchObject({ gated: false, bits: null, reason: 'first layer: reads the model input through Transpose, kept float' });
      expect(c.layers.filter((l) => l.gated).length).toBe(2);
      expect(c.layers.at(-1)).toMatchObject({ op: 'Gemm', gated: false, bits: null });
    },
  },
];

beforeAll(async () => {
  await initBackend('wasm');
});

async function data(c: Case): Promise<{ train: Dataset; test: Dataset }> {
  const train = await openDataset('fashion-mnist:train?source=bundled', c.norm);
  const test = await openDataset('fashion-mnist:test?source=bundled', c.norm);
  return c.nhwc ? { train: asNhwc(train), test: asNhwc(test) } : { train, test };
}

function runPg(model: Model, b: Batch): Float32Array {
  const exec = new Executor(model, { registry: opRegistry });
  try {
    return tf.tidy(() => Object.values(exec.run({ [model.graph.inputs[0].name]: tf.tensor(b.x, b.shape) }))[0].dataSync() as Float32Array);
  } finally {
    exec.dispose();
  }
}

async function runOrt(path: string, b: Batch): Promise<Float32Array> {
  const sess = await ort.InferenceSession.create(path);
  const out = await sess.run({ [sess.inputNames[0]]: new ort.Tensor('float32', b.x, b.shape) });
  return out[sess.outputNames[0]].data as Float32Array;
}

const argmax = (v: Float32Array, classes = 10) =>
  Array.from({ length: v.length / classes }, (_, i) => {
    const row = Array.from(v.subarray(i * classes, (i + 1) * classes));
    return row.indexOf(Math.max(...row));
  });

for (const c of cases) {
  describe.skipIf(!hasFixture(c.name))(`${c.name}: placed right, fine-tuned, and run alike in pg and ONNX Runtime`, () => {
    it('runs the float model like PyTorch did at export', async () => {
      const { test: t } = await data(c);
      const batch = await firstBatch(t.batches(16, { limit: 16 }));
      const model = await readModel(fixtureModel(c.name));
      expect(maxRelativeDifference(runPg(model, batch), expectedOutputs(c.name).logits.flat())).toBeLessThan(1e-4);
    });

    it('converts with the placement the model needs, fine-tunes a few steps, and ONNX Runtime runs the result like pg', async () => {
      const { train: tr, test: t } = await data(c);
      const converted = convertModel(await readModel(fixtureModel(c.name)), { bits: 4, hbits: 2, wbits: 8, actScale: 'static' });
      c.check(converted);
      const { model: tuned, result } = await finetune(converted.model, tr, {
        ...FINETUNE_DEFAULTS,
        maxSteps: 3,
        batchSize: 16,
        calibrationBatches: 1,
        targetSparsity: 0.7,
        trainWeights: true,
        seed: 1,
      });
      expect(result.steps).toBe(3);
      expect(Number.isFinite(result.final_loss)).toBe(true);
      const path = join(dir, `${c.name}-tuned.onnx`);
      await writeModel(tuned, path);
      const reread = await readModel(path);
      const batch = await firstBatch(t.batches(64, { limit: 64 }));
      const ours = runPg(reread, batch);
      const theirs = await runOrt(path, batch);
      expect(maxRelativeDifference(ours, theirs)).toBeLessThan(1e-4);
      expect(argmax(ours)).toEqual(argmax(theirs));
      const report = await reportModel(reread, t, { batchSize: 100, limit: 100 });
      expect(report.layers.some((l) => l.gated)).toBe(true);
      expect(report.accuracy).toBeGreaterThan(0.6);
    });
  });
}

describe.skipIf(!hasFixture('resnet-bn-unfolded') || !hasFixture('resnet-bn-folded'))('unfolded BatchNorm with negative scales against its folded twin', () => {
  it('places every layer as the twin, and calibrates to the same gated accuracy', async () => {
    const { train: tr, test: t } = await data(cases[0]);
    const opts = { bits: 4, hbits: 2, wbits: 8, actScale: 'static' } as const;
    const unfolded = convertModel(await readModel(fixtureModel('resnet-bn-unfolded')), opts);
    const twin = convertModel(await readModel(fixtureModel('resnet-bn-folded')), opts);
    const decisions = (r: ConvertResult) => r.layers.map((l) => ({ name: l.name, gated: l.gated, bits: l.bits }));
    expect(decisions(unfolded)).toEqual(decisions(twin));
    // The thresholds calibrated as finetune starts (Δ_c >= 0 against the ReLU's zero) suit the folded output
    // alone: gated at the same sparsity, both reach the same accuracy.
    const cal = { batches: 2, batchSize: 64, seed: 0, scales: true, targetSparsity: 0.8 };
    const a = await reportModel(await calibrate(unfolded.model, tr, cal), t, { batchSize: 250, limit: 500 });
    const b = await reportModel(await calibrate(twin.model, tr, cal), t, { batchSize: 250, limit: 500 });
    expect(Math.abs(a.accuracy - b.accuracy)).toBeLessThanOrEqual(0.01);
    expect(Math.abs(a.sparsity - b.sparsity)).toBeLessThan(0.01);
  });
});
