import * as tf from '@tensorflow/tfjs-core';
import type { Dataset } from '../data/index.js';
import type { Model } from '../graph/index.js';
import { constTensor } from '../graph/index.js';
import { Executor } from '../runtime/executor.js';
import type { Observer } from '../runtime/kernel.js';
import { OBSERVE, pgLayers } from '../pg/index.js';
import { quantile, type CalibrationOptions } from './calibrate.js';
import { calibrationBatches } from './calibration-batches.js';

/** Values of (prediction − threshold) kept per layer for the quantile. */
const SHIFT_SAMPLES = 200_000;

/**
 * Moves each gated layer's thresholds by one amount, so that a fraction `target` of the layer's outputs
 * skips the update on a seeded sample: Δ_c ← Δ_c + q_S(O_hb − Δ) over all channels and samples. Unlike
 * a new per-channel calibration, the differences between channels that training learnt are kept; only
 * the level moves, undoing the drift of the sparsity during training. Layers are done in execution
 * order, each on the inputs the shifted layers before it produce. Returns a new model.
 */
export async function shiftThresholdsToTarget(model: Model, data: Dataset, target: number, opts: CalibrationOptions): Promise<Model> {
  const exec = new Executor(model);
  const inputName = exec.graph.inputs.find((i) => !exec.graph.initializers.has(i.name))!.name;
  const order = new Map(exec.order.map((n, i) => [n, i]));
  const gated = pgLayers(model)
    .filter((l) => l.gated)
    .sort((a, b) => (order.get(a.node) ?? 0) - (order.get(b.node) ?? 0));
  const batches = calibrationBatches(data, opts.batches, opts.batchSize, opts.seed);
  const shifted = new Map<string, Float32Array>();
  try {
    for (const layer of gated) {
      const delta = exec.param(layer.threshold!)!;
      const margins: Float32Array[] = [];
      const observer: Observer = {
        wants: (n, k) => n === layer.node && k === OBSERVE.prediction,
        observe: (_n, _k, ohb) => {
          const d = tf.sub(ohb, delta);
          margins.push(d.dataSync() as Float32Array);
          d.dispose();
        },
      };
      for (const x of batches) tf.tidy(() => void exec.run({ [inputName]: x }, { outputs: [layer.node.outputs[0]], observer }));
      const total = margins.reduce((a, m) => a + m.length, 0);
      const stride = Math.max(1, Math.floor(total / SHIFT_SAMPLES));
      const sample: number[] = [];
      let i = 0;
      for (const m of margins) for (const v of m) if (i++ % stride === 0) sample.push(v);
      const shift = quantile(Float32Array.from(sample), target);
      const values = Float32Array.from(delta.dataSync() as Float32Array, (t) => t + shift);
      shifted.set(layer.threshold!, values);
      exec.setParam(layer.threshold!, tf.tensor(values, delta.shape, 'float32'));
      await new Promise((r) => setImmediate(r));
    }
  } finally {
    batches.forEach((b) => b.dispose());
    exec.dispose();
  }
  const initializers = new Map(model.graph.initializers);
  for (const [name, v] of shifted) initializers.set(name, constTensor(name, 'float32', initializers.get(name)!.dims.slice(), v));
  return { ...model, graph: { ...model.graph, initializers } };
}
