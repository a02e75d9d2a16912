import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { upgradeOpset } from '../src/graph/passes/upgrade-opset.js';
import {
  Executor,
  OnnxRuntimeEngine,
  convertModel,
  initBackend,
  maxRelativeDifference,
  opRegistry,
  type ConstTensor,
  type HostTensor,
  type Model,
  type Node,
} from '../src/internal.js';
import { buildModel, float, int, int64s, ints, node, sineTensor, valueInfo } from './support/model-builder.js';

// The forms of pg's ops that are new in opsets 18 to 21, which Debian's conformance data (opset <= 17) does
// not have: each built here at every opset where it exists, run by pg and by ONNX Runtime (1.30 runs 21).
// conformance-upgraded.test.ts covers the older forms at opset 21.

beforeAll(async () => {
  await initBackend('wasm');
});

const OPSETS = [18, 19, 20, 21];
const X = [2, 3, 7, 6];
const x = sineTensor('x', X, 0.3, { step: 0.41, scale: 2 });
const convW = sineTensor('w', [5, 3, 3, 3], 1, { step: 0.37, scale: 0.4 });

/** pg's and ONNX Runtime's outputs of `model` on `x` agree (shapes, values to 1e-5 relative). */
async function agree(model: Model, tol = 1e-5): Promise<void> {
  const names = model.graph.outputs.map((o) => o.name);
  const exec = new Executor(model, { registry: opRegistry });
  const ours = tf.tidy(() => exec.run({ x: tf.tensor(x.data() as Float32Array, X) }));
  const session = await new OnnxRuntimeEngine().load(model);
  try {
    const theirs = await session.run({ x: { dtype: 'float32', shape: X, data: x.data() as Float32Array } as HostTensor }, names);
    for (const name of names) {
      expect(ours[name].shape, name).toEqual(theirs[name].shape);
      expect(maxRelativeDifference(Array.from(ours[name].dataSync()), Array.from(theirs[name].data as ArrayLike<number>, Number)), name).toBeLessThan(tol);
    }
  } finally {
    tf.dispose(Object.values(ours));
    exec.dispose();
    await session.dispose();
  }
}

/** x, or a 3x3 conv of it (NHWC inside pg) when `afterConv`, into `nodes`; the outputs named (`name:int64` for an integer one). */
function graph(opset: number, nodes: Node[], outputs: string[], inits: ConstTensor[] = [], afterConv = false): Model {
  const pre = afterConv ? [node('Conv', ['x', 'w'], 'src', { kernel_shape: ints([3, 3]), pads: ints([1, 1, 1, 1]) })] : [node('Identity', ['x'], 'src')];
  return buildModel({
    opset,
    irVersion: opset >= 21 ? 10 : opset >= 19 ? 9 : 8,
    nodes: [...pre, ...nodes],
    initializers: [...inits, ...(afterConv ? [convW] : [])],
    inputs: [valueInfo('x', X)],
    outputs: outputs.map((o) => (o.endsWith(':int64') ? valueInfo(o.slice(0, -6), undefined, 'int64') : valueInfo(o))),
  });
}

const REDUCE = ['ReduceMean', 'ReduceSum', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceSumSquare', 'ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp'];

describe.each(OPSETS)('opset %i', (opset) => {
  it.each(REDUCE)('%s takes its axes as an input (and noop_with_empty_axes)', async (op) => {
    for (const afterConv of [false, true]) {
      // ReduceLogSum of signed values would be log of negatives: reduce |x| there.
      const src = op === 'ReduceLogSum' ? 'abs' : 'src';
      const nodes = [
        node('Abs', ['src'], 'abs'),
        node(op, [src, 'axes'], 'kept', { keepdims: int(1) }),
        node(op, [src, 'axes2'], 'dropped', { keepdims: int(0) }),
        node(op, [src], 'all', { keepdims: int(0) }),
        node(op, [src], 'none', { noop_with_empty_axes: int(1) }),
      ];
      await agree(graph(opset, nodes, ['kept', 'dropped', 'all', 'none'], [int64s('axes', [2, -1]), int64s('axes2', [1])], afterConv), op === 'ReduceProd' ? 1e-4 : 1e-5);
    }
  });

  it('ReduceMax and ReduceMin of booleans (from 20)', async () => {
    if (opset < 20) return;
    const nodes = [
      node('Greater', ['src', 'zero'], 'pos'),
      node('ReduceMax', ['pos', 'axes'], 'any', { keepdims: int(0) }),
      node('ReduceMin', ['pos', 'axes'], 'all', { keepdims: int(1) }),
      node('Cast', ['any'], 'anyF', { to: int(1) }),
      node('Cast', ['all'], 'allF', { to: int(1) }),
    ];
    await agree(graph(opset, nodes, ['anyF', 'allF'], [int64s('axes', [3]), sineTensor('zero', [], 0, { scale: 0 })]));
  });

  it("Split's num_outputs, the last part smaller", async () => {
    for (const afterConv of [false, true]) {
      const nodes = [
        node('Split', ['src'], ['a', 'b', 'c'], { axis: int(2), num_outputs: int(3) }),
        node('Split', ['src'], ['d', 'e'], { axis: int(-1), num_outputs: int(2) }),
        node('Split', ['src', 'sizes'], ['f', 'g'], { axis: int(1) }),
      ];
      await agree(graph(opset, nodes, ['a', 'b', 'c', 'd', 'e', 'f', 'g'], [int64s('sizes', afterConv ? [2, 3] : [1, 2])], afterConv));
    }
  });

  it("Pad's axes input, in every mode pg runs", async () => {
    const modes = opset >= 19 ? ['constant', 'reflect', 'edge', 'wrap'] : ['constant', 'reflect', 'edge'];
    for (const afterConv of [false, true]) {
      const nodes = modes.flatMap((mode) => [
        node('Pad', ['src', 'pads', '', 'axes'], `${mode}_axes`, { mode: { type: 'string', value: mode } }),
        node('Pad', ['src', 'pads4'], `${mode}_all`, { mode: { type: 'string', value: mode } }),
      ]);
      const inits = [int64s('pads', [1, 2, 2, 0]), int64s('axes', [-1, 2]), int64s('pads4', [0, 0, 1, 2, 0, 0, 2, 1])];
      await agree(
        graph(
          opset,
          nodes,
          modes.flatMap((m) => [`${m}_axes`, `${m}_all`]),
          inits,
          afterConv,
        ),
      );
    }
  });

  it('AveragePool with dilations (from 19), pads, ceil_mode and count_include_pad', async () => {
    if (opset < 19) return;
    const pool = (out: string, attrs: Record<string, ReturnType<typeof ints>>) => node('AveragePool', ['src'], out, { kernel_shape: ints([3, 2]), ...attrs });
    const nodes = [
      pool('d', { dilations: ints([2, 2]) }),
      pool('ds', { dilations: ints([2, 1]), strides: ints([2, 2]) }),
      pool('dp', { dilations: ints([2, 2]), pads: ints([1, 1, 2, 1]) }),
      pool('dpc', { dilations: ints([2, 2]), pads: ints([1, 1, 2, 1]), count_include_pad: int(1) }),
      pool('dce', { dilations: ints([1, 2]), strides: ints([2, 2]), ceil_mode: int(1) }),
    ];
    for (const afterConv of [false, true]) await agree(graph(opset, nodes, ['d', 'ds', 'dp', 'dpc', 'dce'], [], afterConv));
  });

  it('Cast (saturate from 19), Shape with start/end, and the data-movement ops at this opset', async () => {
    const nodes = [
      node('Cast', ['src'], 'i', { to: int(7), ...(opset >= 19 ? { saturate: int(1) } : {}) }),
      node('Cast', ['i'], 'f', { to: int(1) }),
      node('Shape', ['src'], 'hw', { start: int(2), end: int(-1) }),
      node('Flatten', ['src'], 'flat', { axis: int(2) }),
      node('Unsqueeze', ['flat', 'ax0'], 'u'),
      node('Squeeze', ['u', 'ax0'], 'sq'),
      node('Transpose', ['src'], 't', { perm: ints([0, 2, 3, 1]) }),
      node('Reshape', ['t', 'shape'], 'r'),
      node('Clip', ['src', 'lo', 'hi'], 'clip'),
      node('Greater', ['src', 'lo'], 'gt'),
      node('Where', ['gt', 'src', 'lo'], 'relu'),
      node('Round', ['src'], 'round'),
      node('Sign', ['src'], 'sign'),
      node('Floor', ['src'], 'floor'),
    ];
    const inits = [int64s('ax0', [0]), int64s('shape', [2, -1]), { ...sineTensor('lo', [], 0, { scale: 0 }) }, { ...sineTensor('hi', [], 1.2, { scale: 1 }) }];
    await agree(graph(opset, nodes, ['f', 'hw:int64', 'sq', 'r', 'clip', 'relu', 'round', 'sign', 'floor'], inits));
  });

  it('Gelu (from 20), exact and tanh-approximated, and LayerNormalization over the last axes', async () => {
    if (opset < 20) return;
    const nodes = [
      node('Gelu', ['src'], 'exact'),
      node('Gelu', ['src'], 'tanh', { approximate: { type: 'string', value: 'tanh' } }),
      node('LayerNormalization', ['src', 'scale', 'bias'], 'ln', { axis: int(-2), epsilon: float(1e-3) }),
    ];
    const inits = [sineTensor('scale', [7, 6], 6, { scale: 0.5 }), sineTensor('bias', [6], 7, { scale: 0.2 })];
    for (const afterConv of [false, true]) await agree(graph(opset, nodes, ['exact', 'tanh', 'ln'], inits, afterConv));
  });

  it('a gated model converted at this opset runs like ONNX Runtime runs its function bodies', async () => {
    // conv -> relu -> conv (gated) -> relu -> global pool as ReduceMean with an axes input -> flatten -> gemm
    const nodes = [
      node('Relu', ['src'], 'r0'),
      node('Conv', ['r0', 'w1', 'b1'], 'c1', { kernel_shape: ints([3, 3]), pads: ints([1, 1, 1, 1]) }, '/c1/Conv'),
      node('Relu', ['c1'], 'r1'),
      node('ReduceMean', ['r1', 'hw'], 'g', { keepdims: int(0) }),
      node('Gemm', ['g', 'wf', 'bf'], 'y', { transB: int(1) }, '/fc/Gemm'),
    ];
    const inits = [
      sineTensor('w1', [6, 5, 3, 3], 2, { scale: 0.3 }),
      sineTensor('b1', [6], 3, { scale: 0.1 }),
      int64s('hw', [2, 3]),
      sineTensor('wf', [4, 6], 4),
      sineTensor('bf', [4], 5),
    ];
    const float = graph(opset, nodes, ['y'], inits, true);
    const { model, layers } = convertModel(float, { bits: 4, hbits: 2, wbits: 8, actScale: 'dynamic' });
    expect(layers.filter((l) => l.gated).map((l) => l.name)).toEqual(['/c1/Conv']);
    expect(model.opsetImports.find((o) => o.domain === '')!.version).toBe(opset);
    await agree(model, 1e-4);
  });
});

describe('the opset upgrade pass at opsets 18 to 21', () => {
  it('leaves a model at or above the target as it is, and rewrites an opset-13 model to 21 (ONNX Runtime runs it the same)', async () => {
    const nodes = [
      node('ReduceMax', ['src'], 'm', { axes: ints([1, 3]), keepdims: int(1) }),
      node('Split', ['src'], ['a', 'b', 'c'], { axis: int(1) }),
      node('Sub', ['a', 'm'], 'y'),
      node('ReduceSum', ['b', 'ax'], 's', { keepdims: int(0) }),
      node('Unsqueeze', ['s', 'ax'], 'u'),
    ];
    const at13 = graph(13, nodes, ['y', 'c', 'u'], [int64s('ax', [1])]);
    const at21 = upgradeOpset(at13, 21, opRegistry);
    expect(upgradeOpset(at21, 18, opRegistry)).toBe(at21);
    expect(at21.irVersion).toBe(10);
    const byOp = (op: string) => at21.graph.nodes.find((n) => n.opType === op)!;
    expect(byOp('ReduceMax').inputs).toHaveLength(2);
    expect(byOp('ReduceMax').attributes.axes).toBeUndefined();
    expect(byOp('Split').attributes.num_outputs).toEqual(int(3));
    await agree(at13);
    await agree(at21);
  });

  it('refuses a node it cannot rewrite, naming it and the opset of the change', () => {
    const at12 = graph(12, [node('Softmax', ['src'], 'y', { axis: int(1) })], ['y']);
    expect(() => upgradeOpset(at12, 13, opRegistry)).toThrow(/node 'y' \(Softmax\) cannot be brought to opset 13.*changed at opset 13/);
  });

  it('moves float attributes into inputs as scalars', () => {
    const at10 = graph(10, [node('Clip', ['src'], 'y', { min: float(-1), max: float(2) })], ['y']);
    const up = upgradeOpset(at10, 18, opRegistry).graph;
    expect(up.nodes[1].inputs.map((i) => Array.from((up.initializers.get(i)?.data() as Float32Array) ?? []))).toEqual([[], [-1], [2]]);
  });
});
