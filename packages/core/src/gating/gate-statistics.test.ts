import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { FMNIST_NORM, fixtureModel } from '../../test/fixtures.js';
import { nativeBuilt, nativeSkipReason } from '../../test/support/native.js';
import { firstBatch, openDataset } from '../data/index.js';
import { Executor } from '../interpreter/executor.js';
import { initBackend } from '../interpreter/index.js';
import { readModel } from '../onnx/index.js';
import { tensorFromBatch } from '../interpreter/feeds.js';
import { convertModel } from './convert.js';
import { releaseFusedState } from './fused-conv.js';
import { OBSERVE } from './kernels.js';
import { pgLayers } from './layers.js';
import { opRegistry } from './op-registry.js';

// Training's sparsity budget reads each gated layer's update fraction and the reported sparsity its counts.
// They used to be taken from the gate M (tfjs's mean and sum over it, and M's gradient back through the mean);
// a fused gated layer now counts them in its gate pass and takes the mean's gradient as one value. On the
// bundled ResNet converted as `pg convert` does (plain and residual gates), with real Fashion-MNIST samples, the
// loss, the counts and every trained tensor's gradient must be what the gate-based path gives.

beforeAll(async () => {
  await initBackend('wasm');
});

type Via = 'gate' | 'statistics';

interface StepResult {
  loss: number;
  counts: number[];
  grads: Map<string, Float32Array>;
}

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
    const x = tensorFromBatch(batch.x, batch.shape);
    const labels = tf.oneHot(tf.tensor1d(batch.y!, 'int32'), 10);
    const fractions: tf.Tensor[] = [];
    const counts: tf.Tensor[] = [];
    const observer = {
      wants: (_n: unknown, key: string) => (via === 'gate' ? key === OBSERVE.gate : key === OBSERVE.updateFraction || key === OBSERVE.gateCounts),
      observe: (_n: unknown, key: string, t: tf.Tensor) => {
        if (key === OBSERVE.gate) {
          // the way training took them from M before
          fractions.push(tf.mean(t));
          counts.push(tf.keep(tf.stack([tf.sum(t), tf.scalar(t.size)])));
        } else if (key === OBSERVE.updateFraction) fractions.push(t);
        else counts.push(tf.keep(t));
      },
    };
    const { value, grads } = tf.variableGrads(() => {
      const input = model.graph.inputs[0].name;
      const logits = exec.run({ [input]: x }, { outputs: [model.graph.outputs[0].name], observer, training: true })[model.graph.outputs[0].name];
      let total = tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar;
      // the budget with a target of 0.2 updates: every layer is over it, so every gate gets the term's gradient
      for (const f of fractions) total = tf.add(total, tf.mul(2, tf.square(tf.relu(tf.sub(f, 0.2))))) as tf.Scalar;
      return total;
    }, vars);
    releaseFusedState();
    const result = {
      loss: value.dataSync()[0],
      counts: Array.from(tf.stack(counts).dataSync()),
      grads: new Map(vars.map((v, i) => [trained[i], grads[v.name].dataSync() as Float32Array])),
    };
    tf.dispose([value, x, labels, ...counts, ...vars, ...Object.values(grads)]);
    exec.dispose();
    return result;
  } finally {
    if (quant === undefined) delete process.env.PG_NATIVE_QUANT;
    else process.env.PG_NATIVE_QUANT = quant;
  }
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
      `the update fractions and counts give the loss, counts and gradients the gate M gives, bit for bit (native quantizer and gate ${native})${native === 'on' ? nativeSkipReason : ''}`,
      async () => {
        const before = await step('gate', native);
        const after = await step('statistics', native);
        expect(Object.is(after.loss, before.loss)).toBe(true);
        expect(after.counts).toEqual(before.counts);
        // six gated layers, each with some outputs on and some off
        expect(after.counts.length).toBe(12);
        for (let i = 0; i < after.counts.length; i += 2) expect(after.counts[i] > 0 && after.counts[i] < after.counts[i + 1]).toBe(true);
        expect([...after.grads.keys()]).toEqual([...before.grads.keys()]);
        for (const [name, g] of after.grads) expect(differing(g, before.grads.get(name)!), name).toBe(0);
        // the thresholds get a gradient (the budget's and the task's through the surrogate)
        const thresholds = [...after.grads].filter(([n]) => /threshold/i.test(n));
        expect(thresholds.length).toBe(6);
        for (const [name, g] of thresholds)
          expect(
            g.some((v) => Math.abs(v) > 0),
            name,
          ).toBe(true);
      },
    );
  }
});
