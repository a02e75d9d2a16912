import * as tf from '@tensorflow/tfjs-core';
import type { Dataset } from '../data/index.js';
import type { Model } from '../graph/index.js';
import { constTensor } from '../graph/index.js';
import { InvalidDataError } from '../errors/index.js';
import { Executor } from '../interpreter/executor.js';
import type { Observer } from '../interpreter/kernel.js';
import { convNhwc } from '../interpreter/ops/conv.js';
import { gemm, tokenLinear } from '../interpreter/ops/linear.js';
import { META, OBSERVE, effectiveScale, fakeQuant, opRegistry, pgLayers, quantSplit, quantizeWeights, type PgLayer } from '../gating/index.js';
import { calibrationBatches } from './calibration-batches.js';
import { calibrateRecurrentLayer } from './recurrent-calibrate.js';

export interface CalibrationOptions {
  batches: number;
  batchSize: number;
  seed: number;
}

export interface CalibrateOptions extends CalibrationOptions {
  /** Search the static activation scales (layers in dynamic mode have none). */
  scales: boolean;
  /** Set each gated layer's thresholds to this fraction of skipped updates; keep them when undefined. */
  targetSparsity?: number;
}

/** Scale candidates, as fractions of the largest input magnitude seen: clipping buys resolution. */
const SCALE_FRACTIONS = [1, 0.85, 0.7, 0.6, 0.5, 0.42, 0.35, 0.3, 0.25, 0.2, 0.16, 0.12];
/** Predictions kept per channel for the threshold quantiles. */
const QUANTILE_SAMPLES = 50_000;

/**
 * Calibrates pg layers from data, one layer at a time in execution order (each choice changes what the
 * next layer sees). For a layer it collects the inputs the layer receives over a seeded sample and
 * compares what the layer outputs with what its float original outputs:
 * - gated layers: for each candidate scale, thresholds Δ_c = max(q_S(O_hb,c), 0) (q_S the S-quantile of
 *   channel c's predictions, moved to the middle of its gap: gapThreshold) and the error of relu(output) against relu(float output), since a ReLU
 *   follows; the scale with the least error wins. Without a target the thresholds stay as they are.
 * - statically quantized layers: the scale with the least output error.
 * This chooses the clip for what the gate needs (a prediction fine enough to rank outputs), which a
 * quantization-error criterion on the inputs alone does not see. Returns a new model.
 */
export async function calibrate(model: Model, data: Dataset, opts: CalibrateOptions): Promise<Model> {
  const target = opts.targetSparsity;
  if (target !== undefined && !(target >= 0 && target <= 1)) {
    throw new InvalidDataError(`target sparsity ${target} is outside [0, 1]`, { action: 'use e.g. --target-sparsity 0.85' });
  }
  const exec = new Executor(model, { registry: opRegistry });
  const inputName = exec.graph.inputs.find((i) => !exec.graph.initializers.has(i.name))!.name;
  const order = new Map(exec.order.map((n, i) => [n, i]));
  const layers = pgLayers(model)
    .filter((l) => (l.gated && target !== undefined) || (opts.scales && !l.dynamic))
    .sort((a, b) => (order.get(a.node) ?? 0) - (order.get(b.node) ?? 0));
  const batches = await calibrationBatches(data, opts.batches, opts.batchSize, opts.seed);
  const solved = new Map<string, Float32Array>();
  try {
    for (const layer of layers) {
      if (layer.recurrentWeight !== undefined) {
        for (const [name, values] of calibrateRecurrentLayer(exec, inputName, batches, layer, target)) solved.set(name, values);
        continue;
      }
      const { inputs, offsets } = collectInputs(exec, inputName, batches, layer);
      try {
        let best = new Map<string, Float32Array>();
        // tidy's result is walked for tensors element by element: return nothing, keep plain arrays.
        tf.tidy(() => void (best = solveLayer(exec, layer, { inputs, offsets }, opts.scales && !layer.dynamic, target)));
        for (const [name, values] of best) {
          solved.set(name, values);
          const dims = model.graph.initializers.get(name)!.dims;
          exec.setParam(name, tf.keep(tf.tensor(values, dims, 'float32')));
        }
      } finally {
        [...inputs, ...offsets].forEach((t) => t.dispose());
      }
      await new Promise((r) => setImmediate(r));
    }
  } finally {
    batches.forEach((b) => b.dispose());
    exec.dispose();
  }
  const initializers = new Map(model.graph.initializers);
  for (const [name, v] of solved) initializers.set(name, constTensor(name, 'float32', initializers.get(name)!.dims.slice(), v));
  const metadata = opts.scales && layers.some((l) => !l.dynamic) ? { ...model.metadata, [META.actScale]: 'static' } : model.metadata;
  return { ...model, metadata, graph: { ...model.graph, initializers } };
}

/** Static activation scales only (thresholds untouched); `pg convert --data` uses it. */
export function calibrateActScales(model: Model, data: Dataset, opts: CalibrationOptions): Promise<Model> {
  return calibrate(model, data, { ...opts, scales: true });
}

/** What a layer receives over the sample, one tensor per batch, as its kernel sees them (NHWC for convs). */
interface LayerSample {
  inputs: tf.Tensor[];
  /** A residual-gated layer's gate offsets (empty for other layers). */
  offsets: tf.Tensor[];
}

function collectInputs(exec: Executor, inputName: string, batches: tf.Tensor[], layer: PgLayer): LayerSample {
  const { node } = layer;
  const sample: LayerSample = { inputs: [], offsets: [] };
  const observer: Observer = {
    wants: (n, k) => n === node && (k === OBSERVE.input || (k === OBSERVE.offset && layer.gateOffset !== undefined)),
    observe: (_n, k, x) => void (k === OBSERVE.input ? sample.inputs : sample.offsets).push(tf.keep(tf.clone(x))),
  };
  for (const x of batches) tf.tidy(() => void exec.run({ [inputName]: x }, { outputs: [node.outputs[0]], observer }));
  return sample;
}

/**
 * The parameter values that minimise the layer's output error over the sample. A residual-gated layer is
 * scored where its gate looks: the thresholds are quantiles of O_hb + offset, and the error is taken after the
 * Add and the activation, relu(y + offset) against relu(float y + offset).
 */
function solveLayer(exec: Executor, layer: PgLayer, sample: LayerSample, searchScale: boolean, target: number | undefined): Map<string, Float32Array> {
  const { inputs, offsets } = sample;
  const withOffset = (t: tf.Tensor, i: number) => (offsets.length ? tf.add(t, offsets[i]) : t);
  const { node } = layer;
  const w = exec.param(layer.weight)!;
  const b = layer.bias ? exec.param(layer.bias) : undefined;
  const linear = (x: tf.Tensor, weights: tf.Tensor, bias?: tf.Tensor) => {
    if (node.opType.endsWith('Conv')) return convNhwc(node, x as tf.Tensor4D, weights, bias);
    if (node.opType.endsWith('Gemm')) return gemm(node, x, weights, bias);
    return tokenLinear(x, weights, bias);
  };
  const wq = quantizeWeights(w, layer.wbits);
  const reference = inputs.map((x) => linear(x, w, b));
  const current = exec.param(layer.actScale)!;
  const maxAbs = Math.max(...inputs.map((x) => tf.max(tf.abs(x)).dataSync()[0]), 1e-12);
  const candidates = searchScale ? SCALE_FRACTIONS.map((f) => tf.scalar(maxAbs * f)) : [current];
  let best: { err: number; values: Map<string, Float32Array> } | undefined;
  for (const s of candidates) {
    const values = new Map<string, Float32Array>();
    if (searchScale) values.set(layer.actScale, s.dataSync() as Float32Array);
    let err = 0;
    // One candidate's tensors at a time: a layer's sample is tens of MB and wasm memory stops at 4 GB.
    tf.tidy(() => {
      if (!layer.gated) {
        inputs.forEach((x, i) => {
          const y = linear(fakeQuant(x, effectiveScale(x, s, layer.dynamic), layer.bits), wq, b);
          err += tf.mean(tf.squaredDifference(y, reference[i])).dataSync()[0];
        });
        return;
      }
      const ohbs = inputs.map((x) => linear(quantSplit(x, effectiveScale(x, s, layer.dynamic), layer.bits, layer.hbits!).hb, wq, b));
      const compared = ohbs.map(withOffset);
      const delta = target === undefined ? exec.param(layer.threshold!)! : tf.tensor1d(channelQuantiles(compared, target));
      values.set(layer.threshold!, delta.dataSync() as Float32Array);
      inputs.forEach((x, i) => {
        const olb = linear(quantSplit(x, effectiveScale(x, s, layer.dynamic), layer.bits, layer.hbits!).lb, wq);
        const y = tf.add(ohbs[i], tf.mul(tf.step(tf.sub(compared[i], delta)), olb));
        err += tf.mean(tf.squaredDifference(tf.relu(withOffset(y, i)), tf.relu(withOffset(reference[i], i)))).dataSync()[0];
      });
    });
    if (!best || err < best.err) best = { err, values };
  }
  return best!.values;
}

/** Per channel (last axis): max(S-quantile, 0) over a strided sample of the predictions. */
function channelQuantiles(predictions: tf.Tensor[], q: number): Float32Array {
  const channels = predictions[0].shape[predictions[0].rank - 1];
  const rows = predictions.reduce((a, p) => a + p.size / channels, 0);
  const stride = Math.max(1, Math.floor(rows / QUANTILE_SAMPLES));
  const per = Array.from({ length: channels }, () => [] as number[]);
  let row = 0;
  for (const p of predictions) {
    const v = p.dataSync();
    for (let r = 0; r < v.length / channels; r++, row++) {
      if (row % stride !== 0) continue;
      for (let c = 0; c < channels; c++) per[c].push(v[r * channels + c]);
    }
  }
  return Float32Array.from(per, (vals) => Math.max(gapThreshold(Float32Array.from(vals), q), 0));
}

/**
 * The S-quantile t moved up into the first clear gap between sampled predictions. Predictions repeat (a
 * constant image region gives identical windows, often most of an image) and the repeats come out a few
 * float32 steps apart; a threshold on or next to such a value leaves the gate of all those outputs to the
 * last bits of the sum, which differ between pg, ONNX Runtime and integer hardware (summation order). So
 * the threshold goes to the middle of the first gap at or above t wider than 2 * 2^-18 of the
 * predictions' magnitude (or 1/1024 of their range above the largest): every sampled value is then at
 * least that far from it, and at most the few values between t and the gap change side (sparsity >= S).
 */
export function gapThreshold(values: Float32Array, q: number): number {
  if (!values.length) return 0;
  const s = Float32Array.from(values).sort();
  const t = quantile(s, q);
  const band = Math.max(Math.abs(s[0]), Math.abs(s[s.length - 1])) * 2 ** -18;
  const above = s.findIndex((v) => v > t);
  // From the last value <= t (or the first value, when t is below all): the gaps at or above t.
  for (let i = Math.max(above - 1, 0); above >= 0 && i + 1 < s.length; i++) {
    if (s[i + 1] - s[i] > 2 * band) return Math.fround((s[i] + s[i + 1]) / 2);
  }
  const top = s[s.length - 1];
  return Math.fround(top + Math.max(top - s[0], Math.abs(top), 1e-30) / 1024);
}

export function quantile(values: Float32Array, q: number): number {
  if (!values.length) return 0;
  const s = Float32Array.from(values).sort();
  const pos = q * (s.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, s.length - 1);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}
