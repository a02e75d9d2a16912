import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildModel, ints, node, sineTensor, valueInfo } from '../../test/support/model-builder.js';
import { initBackend } from './backend.js';
import { Executor } from './executor.js';
import type { KernelContext } from './kernel.js';
import { ONNX_OPS } from './ops/index.js';
import { OpRegistry } from './registry.js';

// While training, the executor tells each kernel which inputs a trained variable flows into; a plain conv
// reading the model input (a stem) then skips its input-gradient pass. The gradients of what is trained must
// not change.

beforeAll(async () => {
  await initBackend('wasm');
});

const pads = { pads: ints([1, 1, 1, 1]) };
const model = buildModel({
  nodes: [node('Conv', ['x', 'w1', 'b1'], 'c1', pads), node('Relu', ['c1'], 'r1'), node('Conv', ['r1', 'w2'], 'y', pads)],
  initializers: [sineTensor('w1', [8, 3, 3, 3], 1, { scale: 0.3 }), sineTensor('b1', [8], 2), sineTensor('w2', [4, 8, 3, 3], 3, { scale: 0.2 })],
  inputs: [valueInfo('x', [2, 3, 6, 6])],
  outputs: [valueInfo('y')],
});
const x = () => tf.tensor(sineTensor('x', [2, 3, 6, 6], 0.5).data() as Float32Array, [2, 3, 6, 6]);

/** The default kernels, with Conv recording what its context says of its inputs 0 and 1. */
function recordingRegistry(seen: Map<string, boolean[]>, forceInputGrad = false): OpRegistry {
  return new OpRegistry(ONNX_OPS).withKernels(({ op, kernel }) => (inputs, ctx) => {
    if (op !== 'Conv') return kernel(inputs, ctx);
    seen.set(ctx.node.name, [ctx.needsGradient?.(0) ?? true, ctx.needsGradient?.(1) ?? true]);
    const forced: KernelContext = forceInputGrad ? { ...ctx, needsGradient: () => true } : ctx;
    return kernel(inputs, forced);
  });
}

/** Trains w1, b1 (and w2 unless frozen): the loss Σ y² and its gradients by variable name. */
function gradients(reg: OpRegistry, frozen: string[] = []): Record<string, Float32Array> {
  const exec = new Executor(model, { registry: reg });
  const vars = ['w1', 'b1', 'w2']
    .filter((n) => !frozen.includes(n))
    .map((n) => {
      const v = tf.variable(exec.param(n)!, true, `${n}-${Math.random()}`);
      exec.setParam(n, v);
      return [n, v] as const;
    });
  const input = x();
  const { grads } = tf.variableGrads(
    () => tf.sum(tf.square(exec.run({ x: input }, { training: true }).y)) as tf.Scalar,
    vars.map(([, v]) => v),
  );
  const out = Object.fromEntries(vars.map(([n, v]) => [n, grads[v.name].dataSync() as Float32Array]));
  tf.dispose([input, ...Object.values(grads), ...vars.map(([, v]) => v)]);
  exec.dispose();
  return out;
}

describe('Executor: which inputs need a gradient while training', () => {
  it('the stem conv reading the model input does not; its weight and later activations do', () => {
    const seen = new Map<string, boolean[]>();
    gradients(recordingRegistry(seen));
    expect(seen.get('c1')).toEqual([false, true]);
    expect(seen.get('y')).toEqual([true, true]);
  });

  it('an activation computed only from frozen weights needs none either', () => {
    const seen = new Map<string, boolean[]>();
    gradients(recordingRegistry(seen), ['w1', 'b1']);
    expect(seen.get('c1')).toEqual([false, false]);
    expect(seen.get('y')).toEqual([false, true]);
  });

  it('outside training every input counts as needed', () => {
    const seen = new Map<string, boolean[]>();
    const exec = new Executor(model, { registry: recordingRegistry(seen) });
    const input = x();
    tf.dispose(exec.run({ x: input }));
    input.dispose();
    exec.dispose();
    expect(seen.get('c1')).toEqual([true, true]);
  });

  it('skipping the stem input gradient leaves every trained gradient bit-identical', () => {
    const skipped = gradients(recordingRegistry(new Map()));
    const full = gradients(recordingRegistry(new Map(), true));
    for (const name of ['w1', 'b1', 'w2']) {
      expect(skipped[name].length).toBeGreaterThan(0);
      expect(Array.from(skipped[name])).toEqual(Array.from(full[name]));
    }
    expect(skipped.w1.some((v) => v !== 0)).toBe(true);
  });
});
