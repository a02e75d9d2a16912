import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Executor, OBSERVE, convertModel, initBackend, opRegistry, pgLayers, readModel, type Observer } from '../src/internal.js';
import { fixtureModel } from './fixtures.js';

// A calibration runs the model up to each layer with an observer that collects the layer's input. Each
// kernel's temporaries (quantizer parts, layout transposes) must be freed when it returns, observed runs
// included: held until the run's end, a deep layer's run holds every earlier layer's at once, which took
// MobileNetV2-224's wasm heap to its 4 GiB limit (bench/calibration-memory.mjs).

beforeAll(async () => {
  await initBackend('wasm');
});

describe('an observed inference run', () => {
  it("frees each kernel's temporaries: the tensors alive grow by a few per layer (cached weights), not by each kernel's temporaries", async () => {
    const { model } = convertModel(await readModel(fixtureModel('resnet-fmnist')), { bits: 4, hbits: 2, wbits: 8, actScale: 'static' });
    const exec = new Executor(model, { registry: opRegistry });
    const layers = new Set(pgLayers(model).map((l) => l.node));
    const alive: number[] = [];
    const observer: Observer = {
      wants: (n, k) => layers.has(n) && k === OBSERVE.input,
      observe: () => void alive.push(tf.memory().numTensors),
    };
    const x = tf.randomNormal([2, 1, 28, 28], 0, 1, 'float32', 1);
    tf.tidy(() => void exec.run({ [exec.graph.inputs[0].name]: x }, { observer }));
    x.dispose();
    exec.dispose();
    expect(alive.length).toBe(layers.size);
    // What stays per layer: its output until last read, the executor's cached quantized weights (about 3 a
    // layer on this model); the temporaries held to the run's end made it about 22.
    const perLayer = (alive[alive.length - 1] - alive[1]) / (alive.length - 2);
    expect(perLayer).toBeLessThanOrEqual(6);
  });
});
