import * as tf from '@tensorflow/tfjs-core';
import type { Dataset } from '../data/index.js';
import type { Model } from '../graph/index.js';
import { constTensor } from '../graph/index.js';
import { Executor } from '../interpreter/executor.js';
import type { Observer } from '../interpreter/kernel.js';
import { OBSERVE, opRegistry, pgLayers } from '../gating/index.js';
import type { CalibrationOptions } from './calibrate.js';
import { calibrationBatches } from './calibration-batches.js';

/** Values of (prediction − threshold) kept per layer for the quantile. */
const SHIFT_SAMPLES = 200_000;

/**
 * Moves each gated layer's thresholds by one amount, so that a fraction `target` of the layer's outputs
 * skips the update on a seeded sample: Δ_c ← Δ_c + q_S(O_hb − Δ) over all channels and samples (see
 * cutForSparsity for ties). Unlike
 * a new per-channel calibration, the differences between channels that training learnt are kept; only
 * the level moves, undoing the drift of the sparsity during training. Layers are done in execution
 * order, each on the inputs the shifted layers before it produce. Returns a new model.
 */
export async function shiftThresholdsToTarget(model: Model, data: Dataset, target: number, opts: CalibrationOptions): Promise<Model> {
  const exec = new Executor(model, { registry: opRegistry });
  const inputName = exec.graph.inputs.find((i) => !exec.graph.initializers.has(i.name))!.name;
  const order = new Map(exec.order.map((n, i) => [n, i]));
  const gated = pgLayers(model)
    .filter((l) => l.gated)
    .sort((a, b) => (order.get(a.node) ?? 0) - (order.get(b.node) ?? 0));
  const batches = await calibrationBatches(data, opts.batches, opts.batchSize, opts.seed);
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
      // Channels are the fastest axis: a stride sharing a factor with their count would sample only some of them.
      const channels = delta.size;
      let stride = Math.max(1, Math.floor(total / SHIFT_SAMPLES));
      while (gcd(stride, channels) !== 1) stride++;
      const sample: number[] = [];
      let i = 0;
      for (const m of margins) for (const v of m) if (i++ % stride === 0) sample.push(v);
      const shift = cutForSparsity(Float32Array.from(sample), target);
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

/**
 * The cut for which the fraction of `values` above it (the updates taken: the gate is step(O_hb − Δ), off
 * at 0) is closest to 1 - S. A plain S-quantile is not enough: high-bit predictions tie in large numbers
 * (a receptive field whose inputs all truncate to 0 at B_hb bits predicts exactly the bias), and a cut on a
 * tied value leaves the whole tie to rounding: the new threshold is Δ + cut in float32, which lands just
 * below the tied predictions about half the time and switches them all on. So the cut never lands on a
 * value: with the tie off it goes to the midpoint above the tie (between the tied value and the next larger
 * one), with it on to the midpoint below, each in float32 and strictly between the two values.
 */
export function cutForSparsity(values: Float32Array, sparsity: number): number {
  const s = Float32Array.from(values).sort();
  const n = s.length;
  if (n === 0) return 0;
  const k = Math.min(n - 1, Math.max(0, Math.floor(sparsity * n)));
  const t = s[k];
  let lo = k;
  while (lo > 0 && s[lo - 1] === t) lo--;
  let hi = k;
  while (hi < n - 1 && s[hi + 1] === t) hi++;
  const wanted = (1 - sparsity) * n;
  // Tie off: everything up to hi is off. Tie on: everything from lo is on.
  const onOff = n - 1 - hi;
  const onOn = n - lo;
  const step = Math.max(1e-6, Math.abs(t) * 1e-6);
  if (Math.abs(onOn - wanted) < Math.abs(onOff - wanted)) return lo > 0 ? midpoint(s[lo - 1], t) : Math.fround(t - step);
  return hi < n - 1 ? midpoint(t, s[hi + 1]) : Math.fround(t + step);
}

/**
 * The float32 midpoint of two float32 values a < b, strictly between them; when they are adjacent float32
 * numbers none is, and the cut stays at a (the side that keeps the tie as it was sampled).
 */
function midpoint(a: number, b: number): number {
  const m = Math.fround(a / 2 + b / 2);
  return a < m && m < b ? m : a;
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}
