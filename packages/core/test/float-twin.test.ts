import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Executor, convertModel, floatTwin, initBackend, lrFactor, opRegistry, readModel } from '../src/internal.js';
import { fixtureModel } from './fixtures.js';

beforeAll(async () => {
  await initBackend('wasm');
});

describe('floatTwin', () => {
  it('turns a gated model back into its float original, output for output', async () => {
    const model = await readModel(fixtureModel('tiny-cnn'));
    const { model: gated } = convertModel(model, { bits: 4, hbits: 2, wbits: 8, actScale: 'dynamic' });
    const x = tf.randomNormal([4, 1, 28, 28], 0, 1, 'float32', 5);
    const run = (m: typeof model) => Array.from(Object.values(new Executor(m, { registry: opRegistry }).run({ [m.graph.inputs[0].name]: x }))[0].dataSync());
    const twin = floatTwin(gated);
    expect(twin.graph.nodes.map((n) => `${n.domain}${n.opType}`)).toEqual(model.graph.nodes.map((n) => `${n.domain}${n.opType}`));
    expect(run(twin)).toEqual(run(model));
    expect(run(gated)).not.toEqual(run(model));
  });
});

describe('lrFactor', () => {
  it('warms up linearly over 5% of the steps, then decays along a cosine to 0', () => {
    const total = 200;
    expect(lrFactor('constant', 150, total)).toBe(1);
    expect(lrFactor('cosine', 0, total)).toBeCloseTo(0.1, 6);
    expect(lrFactor('cosine', 9, total)).toBeCloseTo(1, 6);
    expect(lrFactor('cosine', 10, total)).toBeCloseTo(1, 6);
    expect(lrFactor('cosine', 105, total)).toBeCloseTo(0.5, 2);
    expect(lrFactor('cosine', 199, total)).toBeLessThan(0.001);
  });
});
