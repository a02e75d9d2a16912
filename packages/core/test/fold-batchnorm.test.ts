import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Executor,
  UnsupportedModelError,
  constTensor,
  convertModel,
  foldBatchNormalization,
  initBackend,
  opRegistry,
  maxRelativeDifference,
  writeModel,
  type AttributeValue,
  type ConstTensor,
  type Model,
  type Node,
} from '../src/internal.js';
import { buildModel, float, int, ints, node, sineTensor, valueInfo } from './support/model-builder.js';

// BatchNormalization folded into the Conv/Gemm before it must compute what ONNX Runtime computes on the
// unfolded model, in every form of BN pg reads (opsets 7 to 15), and be left alone where folding would
// change what some node sees.

const dir = mkdtempSync(join(tmpdir(), 'pg-fold-bn-'));
beforeAll(async () => {
  await initBackend('wasm');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const IMAGE = [2, 4, 5, 5];
const ROW = [3, 7];

/** BN parameters for `c` channels: scales of both signs (negative ones flip the layer's output), variances > 0. */
function bnParams(prefix: string, c: number, seed: number): ConstTensor[] {
  const variance = Float32Array.from({ length: c }, (_, i) => 0.3 + Math.sin(i + seed) ** 2);
  return [
    sineTensor(`${prefix}.scale`, [c], seed, { step: 1.9, scale: 1.5 }),
    sineTensor(`${prefix}.B`, [c], seed + 1, { scale: 0.4 }),
    sineTensor(`${prefix}.mean`, [c], seed + 2, { scale: 0.6 }),
    constTensor(`${prefix}.var`, 'float32', [c], variance),
  ];
}

const bn = (x: string, y: string | string[], attributes: Record<string, AttributeValue> = {}) =>
  node('BatchNormalization', [x, 'bn.scale', 'bn.B', 'bn.mean', 'bn.var'], y, { epsilon: float(1e-3), ...attributes }, 'bn');

interface ConvCase {
  opset: number;
  bias?: boolean;
  group?: number;
  attributes?: Record<string, AttributeValue>;
}

/** x → Conv (3×3, pads 1) → BatchNormalization → Relu → y. */
function convBn({ opset, bias = false, group = 1, attributes = {} }: ConvCase): Model {
  const inputs = ['x', 'w', ...(bias ? ['b'] : [])];
  return buildModel({
    opset,
    irVersion: opset < 9 ? 3 : 8,
    nodes: [node('Conv', inputs, 'c', { kernel_shape: ints([3, 3]), pads: ints([1, 1, 1, 1]), group: int(group) }, 'conv'), bn('c', 'n', attributes), node('Relu', ['n'], 'y')],
    initializers: [sineTensor('w', [6, 4 / group, 3, 3], 1, { step: 0.37, scale: 0.5 }), ...(bias ? [sineTensor('b', [6], 2)] : []), ...bnParams('bn', 6, 3)],
    inputs: [valueInfo('x', ['N', 4, 5, 5])],
    outputs: [valueInfo('y', ['N', 6, 5, 5])],
  });
}

/** x [N, 7] → Gemm → BatchNormalization → Relu → y. */
function gemmBn(opts: { transB: boolean; c?: number[]; alpha?: number; beta?: number; opset?: number; bnAttributes?: Record<string, AttributeValue> }): Model {
  const w = opts.transB ? sineTensor('w', [5, 7], 4, { scale: 0.5 }) : sineTensor('w', [7, 5], 4, { scale: 0.5 });
  const attributes: Record<string, AttributeValue> = { transB: int(opts.transB ? 1 : 0) };
  if (opts.alpha !== undefined) attributes.alpha = float(opts.alpha);
  if (opts.beta !== undefined) attributes.beta = float(opts.beta);
  const c = opts.c === undefined ? [] : [sineTensor('cb', opts.c, 5)];
  return buildModel({
    opset: opts.opset ?? 13,
    nodes: [node('Gemm', ['x', 'w', ...(c.length ? ['cb'] : [])], 'g', attributes, 'gemm'), bn('g', 'n', opts.bnAttributes), node('Relu', ['n'], 'y')],
    initializers: [w, ...c, ...bnParams('bn', 5, 6)],
    inputs: [valueInfo('x', ['N', 7])],
    outputs: [valueInfo('y', ['N', 5])],
  });
}

const sample = (shape: number[]) => Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => Math.cos(i * 0.61) * 1.7);

async function runOrt(m: Model, shape: number[], name: string): Promise<Float32Array> {
  const path = join(dir, `${name}.onnx`);
  await writeModel(m, path);
  const sess = await ort.InferenceSession.create(path);
  const out = await sess.run({ x: new ort.Tensor('float32', sample(shape), shape) });
  return out.y.data as Float32Array;
}

function runPg(m: Model, shape: number[]): Float32Array {
  const exec = new Executor(m, { registry: opRegistry });
  try {
    return tf.tidy(() => exec.run({ x: tf.tensor(sample(shape), shape) }).y.dataSync() as Float32Array);
  } finally {
    exec.dispose();
  }
}

const ops = (m: Model) => m.graph.nodes.map((n: Node) => n.opType);

/** Folds, checks the BN is gone, and compares ORT and pg on the folded model with ORT on the original. */
async function expectExactFold(model: Model, shape: number[], name: string): Promise<void> {
  const before = ops(model);
  const { model: folded, folded: done, kept } = foldBatchNormalization(model);
  expect(kept).toEqual([]);
  expect(done).toHaveLength(1);
  expect(done[0].negativeScales).toBeGreaterThan(0);
  expect(ops(folded)).not.toContain('BatchNormalization');
  expect(ops(model)).toEqual(before); // the input model is not changed
  // The BN's parameters went with it; the layer writes the BN's output name.
  for (const p of ['bn.scale', 'bn.mean', 'bn.var']) expect(folded.graph.initializers.has(p)).toBe(false);
  expect(folded.graph.nodes.find((n) => n.name === done[0].into)!.outputs[0]).toBe('n');
  const reference = await runOrt(model, shape, `${name}-unfolded`);
  const theirs = await runOrt(folded, shape, `${name}-folded`);
  expect(maxRelativeDifference(theirs, reference), `${name}: ORT, folded vs unfolded`).toBeLessThan(1e-5);
  expect(maxRelativeDifference(runPg(folded, shape), reference), `${name}: pg folded vs ORT unfolded`).toBeLessThan(1e-5);
  // Some outputs were negative before the ReLU and some positive: the negative scales mattered.
  expect(reference.some((v) => v === 0) && reference.some((v) => v > 0)).toBe(true);
}

describe('foldBatchNormalization: exact against ONNX Runtime on the unfolded model', () => {
  it('Conv without a bias, BN at opset 15 (training_mode=0), negative scales', async () => {
    await expectExactFold(convBn({ opset: 15, attributes: { training_mode: int(0), momentum: float(0.9) } }), IMAGE, 'conv15');
  });

  it('Conv with a bias, grouped, BN at opset 14 and at opset 13', async () => {
    await expectExactFold(convBn({ opset: 14, bias: true, group: 2 }), IMAGE, 'conv14');
    await expectExactFold(convBn({ opset: 13, bias: true }), IMAGE, 'conv13');
  });

  it('BN at opset 9 with its statistics outputs declared but unread', async () => {
    // Opsets 9-13 list mean/var/saved outputs "for training"; nothing reads them here.
    const m = convBn({ opset: 9 });
    m.graph.nodes[1] = bn('c', ['n', '', '', '', '']);
    await expectExactFold(m, IMAGE, 'conv9');
  });

  it('BN at opset 7 with spatial=1, and spatial=0 whose statistics are per channel', async () => {
    await expectExactFold(convBn({ opset: 7, attributes: { spatial: int(1) } }), IMAGE, 'conv7');
    await expectExactFold(gemmBn({ transB: true, c: [5], opset: 7, bnAttributes: { spatial: int(0) } }), ROW, 'gemm7');
  });

  it('Gemm with transB, C, alpha and beta; Gemm without C and transB', async () => {
    await expectExactFold(gemmBn({ transB: true, c: [5], alpha: 0.5, beta: 2 }), ROW, 'gemm-c');
    await expectExactFold(gemmBn({ transB: false }), ROW, 'gemm');
    await expectExactFold(gemmBn({ transB: false, c: [1, 5], beta: 0.25 }), ROW, 'gemm-c2');
  });

  it('BN parameters behind Identity nodes, as PyTorch writes shared values: folded, and the Identity nodes go too', async () => {
    const m = convBn({ opset: 15 });
    m.graph.nodes.unshift(node('Identity', ['bn.var_shared'], 'bn.var'));
    m.graph.initializers.set('bn.var_shared', { ...m.graph.initializers.get('bn.var')!, name: 'bn.var_shared' });
    m.graph.initializers.delete('bn.var');
    await expectExactFold(m, IMAGE, 'identity');
    expect(ops(foldBatchNormalization(m).model)).toEqual(['Conv', 'Relu']);
  });

  it('two BNs in a row both fold into the Conv', async () => {
    const m = convBn({ opset: 13, bias: true });
    m.graph.nodes.splice(2, 0, node('BatchNormalization', ['n', 'bn2.scale', 'bn2.B', 'bn2.mean', 'bn2.var'], 'n2', {}, 'bn2'));
    m.graph.nodes[3] = node('Relu', ['n2'], 'y');
    for (const t of bnParams('bn2', 6, 9)) m.graph.initializers.set(t.name, t);
    const { model: folded, folded: done } = foldBatchNormalization(m);
    expect(done.map((f) => [f.node, f.into])).toEqual([
      ['bn', 'conv'],
      ['bn2', 'conv'],
    ]);
    expect(ops(folded)).toEqual(['Conv', 'Relu']);
    const reference = await runOrt(m, IMAGE, 'chain-unfolded');
    expect(maxRelativeDifference(await runOrt(folded, IMAGE, 'chain-folded'), reference)).toBeLessThan(1e-5);
  });

  it('keeps the weights of another layer that shares them', () => {
    const m = convBn({ opset: 13 });
    m.graph.nodes.push(node('Conv', ['x', 'w'], 'y2', { kernel_shape: ints([3, 3]), pads: ints([1, 1, 1, 1]) }, 'twin'));
    m.graph.outputs.push(valueInfo('y2'));
    const { model: folded } = foldBatchNormalization(m);
    const conv = folded.graph.nodes.find((n) => n.name === 'conv')!;
    expect(conv.inputs[1]).not.toBe('w');
    expect(folded.graph.initializers.get('w')).toBe(m.graph.initializers.get('w'));
  });
});

describe('foldBatchNormalization: what it leaves in place, and why', () => {
  const keptReason = (m: Model) => {
    const r = foldBatchNormalization(m);
    expect(r.model).toBe(m);
    expect(r.folded).toEqual([]);
    expect(r.kept).toHaveLength(1);
    return r.kept[0].reason;
  };

  it('a Conv output that another node reads too', () => {
    const m = convBn({ opset: 13 });
    m.graph.nodes.push(node('Add', ['c', 'y'], 'z'));
    expect(keptReason(m)).toMatch(/also read by other nodes/);
  });

  it('a BN in training mode (opset 15) or whose statistics outputs are read (opset 9)', () => {
    expect(keptReason(convBn({ opset: 15, attributes: { training_mode: int(1) } }))).toMatch(/training_mode=1/);
    const m = convBn({ opset: 9 });
    m.graph.nodes[1] = bn('c', ['n', 'running_mean']);
    m.graph.outputs.push(valueInfo('running_mean'));
    expect(keptReason(m)).toMatch(/statistics outputs are read/);
  });

  it('a BN after another op, or with parameters from a model input', () => {
    const m = convBn({ opset: 13 });
    m.graph.nodes.splice(1, 0, node('Relu', ['c'], 'c2'));
    m.graph.nodes[2] = bn('c2', 'n');
    expect(keptReason(m)).toMatch(/comes from a Relu, not from a Conv or Gemm/);
    const p = convBn({ opset: 13 });
    p.graph.initializers.delete('bn.mean');
    p.graph.inputs.push(valueInfo('bn.mean', [6]));
    expect(keptReason(p)).toMatch(/not all float32 constants/);
  });

  it('spatial=0 with statistics per activation (opset 7)', () => {
    const m = convBn({ opset: 7, attributes: { spatial: int(0) } });
    for (const [name, t] of [...m.graph.initializers].filter(([k]) => k.startsWith('bn.')))
      m.graph.initializers.set(name, constTensor(name, 'float32', [6, 5, 5], new Float32Array(150).fill((t.data() as Float32Array)[0])));
    expect(keptReason(m)).toMatch(/spatial=0/);
  });
});

describe('a BatchNormalization that convert cannot fold, in an opset-7 model', () => {
  /** x → Conv → Relu → BN (spatial given) → Conv → Relu → Conv → y: the BN reads a Relu, so it stays. */
  function model(spatial: number): Model {
    const conv = (x: string, w: string, y: string) => node('Conv', [x, w], y, { kernel_shape: ints([3, 3]), pads: ints([1, 1, 1, 1]) }, `/${y}/Conv`);
    return buildModel({
      opset: 7,
      irVersion: 3,
      nodes: [
        conv('x', 'w0', 'c0'),
        node('Relu', ['c0'], 'r0'),
        bn('r0', 'n', { spatial: int(spatial) }),
        conv('n', 'w1', 'c1'),
        node('Relu', ['c1'], 'r1'),
        conv('r1', 'w2', 'y'),
      ],
      initializers: [
        sineTensor('w0', [6, 4, 3, 3], 1, { scale: 0.3 }),
        sineTensor('w1', [6, 6, 3, 3], 2, { scale: 0.3 }),
        sineTensor('w2', [3, 6, 3, 3], 3, { scale: 0.3 }),
        ...bnParams('bn', 6, 3),
      ],
      inputs: [valueInfo('x', ['N', 4, 5, 5])],
      outputs: [valueInfo('y', ['N', 3, 5, 5])],
    });
  }

  it('loses spatial=1 on the way to opset 12; ONNX Runtime runs the gated model like pg', async () => {
    const { model: gated, layers, batchNormalization } = convertModel(model(1), { bits: 4, hbits: 2, wbits: 8, actScale: 'dynamic' });
    expect(batchNormalization).toEqual({ folded: [], kept: [{ node: 'bn', reason: 'its input comes from a Relu, not from a Conv or Gemm' }] });
    expect(gated.graph.nodes.find((n) => n.opType === 'BatchNormalization')!.attributes).toEqual({ epsilon: float(1e-3) });
    expect(layers.map((l) => l.gated)).toEqual([false, true, false]);
    expect(maxRelativeDifference(runPg(gated, IMAGE), await runOrt(gated, IMAGE, 'opset7-gated'))).toBeLessThan(1e-5);
  });

  it('refuses spatial=0, which opset 12 cannot express, naming the node', () => {
    expect(() => convertModel(model(0), { bits: 4, hbits: 2, wbits: 8, actScale: 'dynamic' })).toThrow(UnsupportedModelError);
    expect(() => convertModel(model(0), { bits: 4, hbits: 2, wbits: 8, actScale: 'dynamic' })).toThrow(/node 'bn' \(BatchNormalization\) cannot be brought to opset 12.*spatial=0/);
  });
});
