import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { FMNIST_NORM, fixtureModel } from '../../test/fixtures.js';
import { nativeBuilt, nativeSkipReason } from '../../test/support/native.js';
import { firstBatch, openDataset, type Batch } from '../data/index.js';
import type { Node } from '../graph/index.js';
import { Executor } from '../interpreter/executor.js';
import { initBackend } from '../interpreter/index.js';
import { readModel } from '../onnx/index.js';
import { tensorFromBatch } from '../interpreter/feeds.js';
import { convertModel } from './convert.js';
import { releaseFusedState } from './fused-conv.js';
import { OBSERVE } from './kernels.js';
import { pgLayers } from './layers.js';
import { opRegistry } from './op-registry.js';
import { shardGradients, type LossSpec } from '../train/parallel/shard-loss.js';

// Training's sparsity budget reads each gated layer's update fraction and the reported sparsity its counts.
// They used to be taken from the gate M (tfjs's mean and sum over it, and M's gradient back through the mean);
// a fused gated layer now counts them in its gate pass and takes the mean's gradient as one value. On the
// bundled ResNet converted as `pg convert` does (plain and residual gates), with real Fashion-MNIST samples, the
// loss, the counts and every trained tensor's gradient must be what the gate-based path gives.

beforeAll(async () => {
  await initBackend('wasm');
});

/** 'gate': the loss as training built it from the gate M before (reference); 'training': shardGradients itself. */
type Via = 'gate' | 'training';

interface StepResult {
  loss: number;
  /** Gated outputs on, and all gated outputs, summed over the layers. */
  counts: number[];
  /** Gated layers that reported their gate. */
  layers: number;
  grads: Map<string, Float32Array>;
}

const BUDGET = { budget: 0.2, sparsityWeight: 2 };

async function step(via: Via, native: 'on' | 'composed'): Promise<StepResult> {
  const quant = process.env.PG_NATIVE_QUANT;
  if (native === 'composed') process.env.PG_NATIVE_QUANT = '0';
  try {
    const { model } = convertModel(await readModel(fixtureModel('resnet-fmnist')), { bits: 4, hbits: 2, wbits: 8, actScale: 'static' });
    const layers = pgLayers(model);
    expect(layers.filter((l) => l.gateOffset !== undefined).length).toBeGreaterThan(0);
    const batch = await firstBatch((await openDataset('fashion-mnist:test?source=bundled', { ...FMNIST_NORM })).batches(32, { limit: 32 }));
    const exec = new Executor(model, { registry: opRegistry });
    const trained = layers.flatMap((l) => [l.weight, l.bias, l.threshold, l.actScale]).filter((n): n is string => n !== undefined && exec.param(n) !== undefined);
    const vars = trained.map((n) => {
      const v = tf.variable(exec.param(n)!, true, `${n}-${via}-${native}-${Math.random()}`);
      exec.setParam(n, v);
      return v;
    });
    const [inputName, outputName] = [model.graph.inputs[0].name, model.graph.outputs[0].name];
    const result = via === 'training' ? viaTraining(exec, vars, inputName, outputName, batch) : viaGate(exec, vars, inputName, outputName, batch);
    tf.dispose(vars);
    exec.dispose();
    return { ...result, grads: new Map([...result.grads.values()].map((g, i) => [trained[i], g])) };
  } finally {
    if (quant === undefined) delete process.env.PG_NATIVE_QUANT;
    else process.env.PG_NATIVE_QUANT = quant;
  }
}

/** The reference: each gate's mean and sum taken by tfjs from M, and the budget added layer by layer. */
function viaGate(exec: Executor, vars: tf.Variable[], inputName: string, outputName: string, batch: Batch): StepResult {
  let result: StepResult | undefined;
  tf.tidy(() => {
    const x = tensorFromBatch(batch.x, batch.shape);
    const labels = tf.oneHot(tf.tensor1d(batch.y!, 'int32'), 10);
    const fractions: tf.Tensor[] = [];
    const counts: tf.Tensor[] = [];
    const observer = {
      wants: (_n: unknown, key: string) => key === OBSERVE.gate,
      observe: (_n: unknown, _key: string, t: tf.Tensor) => {
        fractions.push(tf.mean(t));
        counts.push(tf.keep(tf.stack([tf.sum(t), tf.scalar(t.size)])));
      },
    };
    const { value, grads } = tf.variableGrads(() => {
      const logits = exec.run({ [inputName]: x }, { outputs: [outputName], observer, training: true })[outputName];
      let total = tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar;
      for (const f of fractions) total = tf.add(total, tf.mul(BUDGET.sparsityWeight, tf.square(tf.relu(tf.sub(f, BUDGET.budget))))) as tf.Scalar;
      return total;
    }, vars);
    releaseFusedState();
    const summed = Array.from(tf.sum(tf.stack(counts), 0).dataSync());
    tf.dispose(counts);
    result = { loss: value.dataSync()[0], counts: summed, layers: counts.length, grads: new Map(vars.map((v, i) => [String(i), grads[v.name].dataSync() as Float32Array])) };
  });
  return result!;
}

/** Training's own shard loss (update fractions and counts from the fused gate pass, the budget over all layers at once). */
function viaTraining(exec: Executor, vars: tf.Variable[], inputName: string, outputName: string, batch: Batch): StepResult {
  const spec: LossSpec = { inputName, outputName, numClasses: 10, penalty: 0, gateTarget: 0, ...BUDGET, settings: {} };
  const out = new Float32Array(vars.reduce((a, v) => a + v.size, 0));
  // counts the gated layers that hand over their counts
  let layers = 0;
  const run = exec.run.bind(exec);
  exec.run = (feeds, opts) => {
    const observer = opts?.observer;
    const counting = observer && {
      ...observer,
      observe: (n: Node, key: string, t: tf.Tensor) => {
        if (key === OBSERVE.gateCounts) layers++;
        observer.observe?.(n, key, t);
      },
    };
    return run(feeds, { ...opts, observer: counting });
  };
  const r = shardGradients({ exec, vars, thresholds: [] }, spec, batch.x, batch.shape, batch.y!, 1, false, out);
  let at = 0;
  const grads = new Map(
    vars.map((v, i) => {
      at += v.size;
      return [String(i), out.slice(at - v.size, at)];
    }),
  );
  return { loss: r.loss, counts: [r.gateOn, r.gateTotal], layers, grads };
}

/** The entries where a and b differ as numbers (a zero's sign is not a difference). */
function differing(a: Float32Array, b: Float32Array): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (!(a[i] === b[i])) n++;
  return n;
}

describe('gate statistics while training (the bundled ResNet, pg convert default placement)', () => {
  for (const native of ['on', 'composed'] as const) {
    const skip = native === 'on' && !nativeBuilt;
    it.skipIf(skip)(
      `training's shard loss gives the gradients and counts the gate M gives, bit for bit, and its loss to float rounding (native quantizer and gate ${native})${native === 'on' ? nativeSkipReason : ''}`,
      async () => {
        const before = await step('gate', native);
        const after = await step('training', native);
        // the budget's terms are summed in another order: the loss may differ in its last bits
        expect(Math.abs(after.loss - before.loss)).toBeLessThanOrEqual(4 * 2 ** -24 * Math.abs(before.loss));
        expect(after.counts).toEqual(before.counts);
        // six gated layers, some outputs on and some off
        expect([after.layers, before.layers]).toEqual([6, 6]);
        expect(after.counts[0] > 0 && after.counts[0] < after.counts[1]).toBe(true);
        expect(after.grads.size).toBe(before.grads.size);
        for (const [i, g] of after.grads) expect(differing(g, before.grads.get(i)!), `gradient ${i}`).toBe(0);
        // the budget's gradient reaches the thresholds: without it they differ
        const nonzero = [...after.grads.values()].filter((g) => g.some((v) => v !== 0)).length;
        expect(nonzero).toBe(after.grads.size);
      },
    );
  }
});
