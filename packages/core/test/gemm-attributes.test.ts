import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  FINETUNE_DEFAULTS,
  FIRST_LAYER_BITS_DEFAULT,
  PG_GEMM,
  Q_GEMM,
  actScaleName,
  calibrate,
  constTensor,
  convertModel,
  finetune,
  floatTwin,
  initBackend,
  isPgNode,
  maxRelativeDifference,
  firstBatch,
  openDataset,
  readModel,
  runModel,
  writeModel,
  UnsupportedModelError,
  type AttributeValue,
  type Batch,
  type ConstTensor,
  type LayerDecision,
  type Model,
} from '../src/internal.js';
import { FMNIST_NORM, expectedOutputs, fixtureModel, hasFixture } from './fixtures.js';
import { runOrt, runOrtGates, runPgGates, sameValues, ortLayer } from './support/gate-runs.js';
import { buildModel, float, int, node, sineTensor, valueInfo } from './support/model-builder.js';

// ONNX's Gemm is Y = alpha * op(A) op(B) + beta * C. pg honours alpha and beta in every form of its Gemm
// layers (its kernels, the function bodies ONNX Runtime runs, the standard export, hw-json), and writes
// transA as a Transpose in front (docs/gated-format.md). PyTorch never writes these attributes; the fixture
// (fixtures/make_gemm_fixture.py) is a trained MLP whose Gemm nodes set all three.

const FIXTURE = 'gemm-attrs';
const dir = mkdtempSync(join(tmpdir(), 'pg-gemm-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let batch: Batch;

beforeAll(async () => {
  await initBackend('wasm');
  const ds = await openDataset('fashion-mnist:test?source=bundled', FMNIST_NORM);
  batch = await firstBatch(ds.batches(64, { limit: 64 }));
});

const attr = (a: AttributeValue | undefined) => (a && (a.type === 'float' || a.type === 'int') ? a.value : undefined);

/** Every gated layer: the same input, prediction and decisions in pg and ONNX Runtime, end to end and alone. */
async function expectSameGates(gated: Model, label: string): Promise<{ ours: Float32Array; theirs: Float32Array }> {
  const ours = runPgGates(gated, batch);
  const theirs = await runOrtGates(gated, join(dir, `${label}-gates.onnx`), batch);
  expect(theirs.gates.size).toBeGreaterThan(0);
  for (const [layer, mask] of theirs.gates) {
    const input = ours.inputs.get(layer)!;
    // Everything in front of the gates is integer-exact or data movement (Flatten, Transpose), so each
    // layer's input is the same float32 value in both runtimes, and so are its predictions and decisions.
    expect(sameValues(theirs.inputs.get(layer)!.data, input.data), `${layer}: input end to end`).toBe(true);
    expect(sameValues(theirs.predictions.get(layer)!, ours.predictions.get(layer)!), `${layer}: prediction end to end`).toBe(true);
    expect(sameValues(mask, ours.gates.get(layer)!), `${layer}: decisions end to end`).toBe(true);
    const alone = await ortLayer(gated, layer, input.data, input.shape, join(dir, `${label}-layer.onnx`));
    expect(sameValues(alone.prediction, ours.predictions.get(layer)!), `${layer}: prediction from the same input`).toBe(true);
    const open = Array.from(mask as ArrayLike<number>).reduce((a, v) => a + v, 0);
    expect(open, `${layer}: some outputs updated, not all`).toBeGreaterThan(0);
    expect(open).toBeLessThan(mask.length);
  }
  return { ours: ours.output, theirs: theirs.output };
}

describe.skipIf(!hasFixture(FIXTURE))('a trained MLP whose Gemm layers set alpha, beta and transA (gemm-attrs)', () => {
  let float: Model;
  let gated: Model;
  let decisions: LayerDecision[];

  beforeAll(async () => {
    float = await readModel(fixtureModel(FIXTURE));
    // pg convert's defaults, with the first layer (behind Flatten) and the classifier gated too: every Gemm of the
    // fixture becomes a PGGemm.
    const { model, layers } = convertModel(float, {
      bits: 4,
      hbits: 2,
      wbits: 8,
      actScale: 'static',
      firstLayerBits: FIRST_LAYER_BITS_DEFAULT,
      include: ['/fc1/Gemm', '/fc3/Gemm'],
    });
    decisions = layers;
    const train = await openDataset('fashion-mnist:train?source=bundled', FMNIST_NORM);
    gated = await calibrate(model, train, { batches: 2, batchSize: 64, seed: 0, scales: true, targetSparsity: 0.85 });
  });

  it('runs the float model like PyTorch and ONNX Runtime', async () => {
    const expected = expectedOutputs(FIXTURE);
    const first16 = { x: batch.x.subarray(0, 16 * 784), shape: [16, 1, 28, 28] } as Batch;
    const ours = runPgGates(float, first16).output;
    expect(maxRelativeDifference(ours, expected.logits.flat())).toBeLessThan(1e-4);
    expect(maxRelativeDifference(ours, await runOrt(fixtureModel(FIXTURE), first16))).toBeLessThan(1e-5);
  });

  it('keeps alpha and beta on the pg nodes and moves transA into a Transpose', () => {
    expect(decisions.find((l) => l.name === '/fc2/Gemm')!.reason).toMatch(/transA = 1 written as a Transpose in front/);
    const pg = gated.graph.nodes.filter(isPgNode);
    expect(pg.map((n) => [n.name, n.opType, attr(n.attributes.alpha), attr(n.attributes.beta), attr(n.attributes.transA)])).toEqual([
      ['/fc1/Gemm', PG_GEMM, expect.closeTo(0.8, 6), 1.5, undefined],
      ['/fc2/Gemm', PG_GEMM, 1.25, 0.5, undefined],
      ['/fc3/Gemm', PG_GEMM, expect.closeTo(0.6, 6), 3, undefined],
    ]);
    const fc2 = pg[1];
    const transpose = gated.graph.nodes.find((n) => n.outputs[0] === fc2.inputs[0])!;
    expect([transpose.opType, transpose.inputs[0], transpose.attributes.perm]).toEqual(['Transpose', '/fc2/Transpose_output_0', { type: 'ints', value: [1, 0] }]);
    // The float twin (distillation's teacher) computes the original model.
    expect(maxRelativeDifference(runPgGates(floatTwin(gated), batch).output, runPgGates(float, batch).output)).toBeLessThan(1e-6);
  });

  it('takes every gate decision as ONNX Runtime does, and computes the same logits bit for bit', async () => {
    const { ours, theirs } = await expectSameGates(gated, 'calibrated');
    // Every layer is a pg layer: the whole model is integer accumulations and elementwise float32 ops.
    expect(maxRelativeDifference(ours, theirs)).toBe(0);
    // The gated model computes the float model's function, quantized: alpha and beta are not lost.
    const accuracy = (logits: Float32Array) =>
      batch.y!.filter((label, i) => logits.subarray(i * 10, i * 10 + 10).indexOf(Math.max(...logits.subarray(i * 10, i * 10 + 10))) === label).length / batch.y!.length;
    const floatLogits = runPgGates(float, batch).output;
    expect(Math.abs(accuracy(ours) - accuracy(floatLogits))).toBeLessThanOrEqual(0.05);
  });

  it('fine-tunes a few steps (thresholds, scales and weights) and still agrees with ONNX Runtime', async () => {
    const train = await openDataset('fashion-mnist:train?source=bundled', FMNIST_NORM);
    const { model: tuned, result } = await finetune(gated, train, { ...FINETUNE_DEFAULTS, maxSteps: 3, batchSize: 32, trainWeights: true, targetSparsity: 0.85, workers: 1 });
    expect(result.steps).toBe(3);
    expect(Number.isFinite(result.final_loss)).toBe(true);
    const path = join(dir, 'tuned.onnx');
    await writeModel(tuned, path);
    const reread = await readModel(path);
    const { ours, theirs } = await expectSameGates(reread, 'tuned');
    expect(maxRelativeDifference(ours, theirs)).toBe(0);
  });
});

/** The model with a scalar initializer set to `value`. */
function withParam(model: Model, name: string, value: number): Model {
  const initializers = new Map(model.graph.initializers);
  initializers.set(name, constTensor(name, 'float32', [], Float32Array.from([value])));
  return { ...model, graph: { ...model.graph, initializers } };
}

/**
 * A Gemm reading the model input X ([M, K], or [K, M] with transA) at alpha 0.7 and beta -1.3 with the
 * given C, then ReLU, then a Gemm with alpha 1.6 and beta 0.45, then ReLU: converted with the first layer
 * quantized and the second included (it would be the classifier), the first becomes a QGemm and the second a PGGemm.
 */
function twoGemms(c: { dims: number[] } | undefined, transA: boolean): Model {
  const [m, k, n] = [4, 6, 5];
  const initializers: ConstTensor[] = [sineTensor('w1', [n, k], 1), sineTensor('w2', [n, 3], 2), sineTensor('c2', [3], 3)];
  if (c) initializers.push(sineTensor('c1', c.dims, 4));
  return buildModel({
    nodes: [
      node('Gemm', ['x', 'w1', ...(c ? ['c1'] : [])], 'h', { alpha: float(0.7), beta: float(-1.3), transB: int(1), ...(transA ? { transA: int(1) } : {}) }, 'gemm1'),
      node('Relu', ['h'], 'r'),
      node('Gemm', ['r', 'w2', 'c2'], 'g', { alpha: float(1.6), beta: float(0.45) }, 'gemm2'),
      node('Relu', ['g'], 'y'),
    ],
    initializers,
    inputs: [valueInfo('x', transA ? [k, m] : [m, k])],
    outputs: [valueInfo('y', [m, 3])],
  });
}

describe('Gemm attributes in QGemm and PGGemm, every form of C', () => {
  const cases: { label: string; c?: { dims: number[] }; transA: boolean }[] = [
    { label: 'no C', transA: false },
    { label: 'C a scalar', c: { dims: [] }, transA: false },
    { label: 'C [N]', c: { dims: [5] }, transA: false },
    { label: 'C [1, N]', c: { dims: [1, 5] }, transA: true },
    { label: 'C [M, N]', c: { dims: [4, 5] }, transA: true },
  ];
  for (const c of cases) {
    for (const actScale of ['static', 'dynamic'] as const) {
      it(`${c.label}${c.transA ? ', transA' : ''}, ${actScale} scale: pg and ONNX Runtime compute the same bits, close to the float model`, async () => {
        const model = twoGemms(c.c, c.transA);
        const x = sineTensor('x', model.graph.inputs[0].shape as number[], 5, { step: 0.37 });
        const feeds = { x: { dtype: 'float32' as const, shape: x.dims, data: x.data() as Float32Array } };
        const { model: converted } = convertModel(model, { bits: 8, hbits: 4, wbits: 8, actScale, firstLayerBits: 8, include: ['gemm2'] });
        expect(converted.graph.nodes.filter(isPgNode).map((n) => n.opType)).toEqual([Q_GEMM, PG_GEMM]);
        // Static scales that cover the inputs (|x| <= 1; |r| <= 0.7 * 6 + 1.3) instead of a calibration.
        const gated = actScale === 'static' ? withParam(withParam(converted, actScaleName('gemm1'), 1), actScaleName('gemm2'), 6) : converted;
        const ours = (await runModel(gated, feeds, { engine: 'wasm' })).outputs.y.data as Float32Array;
        const theirs = (await runModel(gated, feeds, { engine: 'onnxruntime' })).outputs.y.data as Float32Array;
        expect(maxRelativeDifference(ours, theirs)).toBe(0);
        const reference = (await runModel(model, feeds, { engine: 'onnxruntime' })).outputs.y.data as Float32Array;
        expect(maxRelativeDifference(ours, reference)).toBeLessThan(0.05);
        expect(maxRelativeDifference(ours, reference)).toBeGreaterThan(0);
      });
    }
  }

  it('refuses a pg Gemm node that carries transA = 1 (not written by pg convert), naming it', async () => {
    const { model: gated } = convertModel(twoGemms({ dims: [5] }, false), { bits: 8, hbits: 4, wbits: 8, actScale: 'dynamic', firstLayerBits: 8, include: ['gemm2'] });
    const edited: Model = {
      ...gated,
      graph: { ...gated.graph, nodes: gated.graph.nodes.map((n) => (n.name === 'gemm2' ? { ...n, attributes: { ...n.attributes, transA: int(1) } } : n)) },
    };
    const x = sineTensor('x', [4, 6], 5);
    const err = await runModel(edited, { x: { dtype: 'float32', shape: x.dims, data: x.data() as Float32Array } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnsupportedModelError);
    expect((err as Error).message).toMatch(/'gemm2' \(PGGemm\): transA = 1/);
  });
});
