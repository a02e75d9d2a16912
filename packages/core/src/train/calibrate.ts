import * as tf from '@tensorflow/tfjs-core';
import type { Dataset } from '../data/index.js';
import type { Model } from '../graph/index.js';
import { constTensor } from '../graph/index.js';
import { InvalidDataError } from '../errors/index.js';
import { Executor } from '../runtime/executor.js';
import type { Observer } from '../runtime/kernel.js';
import { META, OBSERVE, levels, pgLayers, type PgLayer } from '../pg/index.js';
import { calibrationBatches } from './calibration-batches.js';

export interface CalibrationOptions {
  batches: number;
  batchSize: number;
  seed: number;
}

/** Values kept per layer (activations) or per channel (predictions): enough for stable quantiles. */
const SAMPLE_CAP = 200_000;

/**
 * Static activation scales from data: for each statically scaled pg layer, in execution order (each
 * scale changes what later layers see), the clip value that minimises the B-bit quantization error of
 * the layer's inputs. Returns a new model; the input model is not changed.
 */
export async function calibrateActScales(model: Model, data: Dataset, opts: CalibrationOptions): Promise<Model> {
  const layers = pgLayers(model).filter((l) => !l.dynamic);
  if (!layers.length) return model;
  const scales = await perLayer(model, data, opts, layers, OBSERVE.input, (layer, values) => {
    const abs = values.map(Math.abs);
    return new Float32Array([mseOptimalClip(abs, layer.bits)]);
  }, (layer) => layer.actScale);
  return withInitializers({ ...model, metadata: { ...model.metadata, [META.actScale]: 'static' } }, scales);
}

/**
 * Thresholds from data: for each gated layer, in execution order, Δ_c = max(q_S, 0) where q_S is the
 * S-quantile of the channel's predictions O_hb, so that a fraction S of its outputs keep their
 * low-precision value. The floor at 0 keeps outputs that the following ReLU clips out of the update.
 */
export async function calibrateThresholds(model: Model, data: Dataset, targetSparsity: number, opts: CalibrationOptions): Promise<Model> {
  if (!(targetSparsity >= 0 && targetSparsity < 1)) {
    throw new InvalidDataError(`target sparsity ${targetSparsity} is outside [0, 1)`, { action: 'use e.g. --target-sparsity 0.85' });
  }
  const layers = pgLayers(model).filter((l) => l.gated);
  const thresholds = await perLayer(model, data, opts, layers, OBSERVE.prediction, (_layer, values, channels) => {
    const out = new Float32Array(channels);
    const per = splitChannels(values, channels);
    per.forEach((v, c) => (out[c] = Math.max(quantile(v, targetSparsity), 0)));
    return out;
  }, (layer) => layer.threshold!);
  return withInitializers(model, thresholds);
}

/** Runs the sample up to each layer in turn, collecting `key`, and fixes the layer's parameter before moving on. */
async function perLayer(
  model: Model,
  data: Dataset,
  opts: CalibrationOptions,
  layers: PgLayer[],
  key: string,
  solve: (layer: PgLayer, values: Float32Array, channels: number) => Float32Array,
  paramOf: (layer: PgLayer) => string,
): Promise<Map<string, Float32Array>> {
  const exec = new Executor(model);
  const inputName = exec.graph.inputs.find((i) => !exec.graph.initializers.has(i.name))!.name;
  const batches = calibrationBatches(data, opts.batches, opts.batchSize, opts.seed);
  const order = new Map(exec.order.map((n, i) => [n, i]));
  const sorted = [...layers].sort((a, b) => (order.get(a.node) ?? 0) - (order.get(b.node) ?? 0));
  const solved = new Map<string, Float32Array>();
  try {
    for (const layer of sorted) {
      const chunks: Float32Array[] = [];
      let channels = 1;
      const observer: Observer = {
        wants: (node, k) => node === layer.node && k === key,
        observe: (_node, _k, t) => {
          channels = t.shape[t.rank - 1];
          chunks.push(t.dataSync() as Float32Array);
        },
      };
      for (const x of batches) {
        tf.tidy(() => {
          exec.run({ [inputName]: x }, { outputs: [layer.node.outputs[0]], observer });
        });
        await Promise.resolve();
      }
      const values = subsample(chunks, channels, key === OBSERVE.prediction ? SAMPLE_CAP * channels : SAMPLE_CAP);
      const v = solve(layer, values, channels);
      solved.set(paramOf(layer), v);
      exec.setParam(paramOf(layer), tf.keep(v.length === 1 && model.graph.initializers.get(paramOf(layer))?.dims.length === 0 ? tf.scalar(v[0]) : tf.tensor1d(v)));
    }
  } finally {
    batches.forEach((b) => b.dispose());
    exec.dispose();
  }
  return solved;
}

function withInitializers(model: Model, values: Map<string, Float32Array>): Model {
  const initializers = new Map(model.graph.initializers);
  for (const [name, v] of values) {
    const old = initializers.get(name)!;
    initializers.set(name, constTensor(name, 'float32', old.dims.slice(), v));
  }
  return { ...model, graph: { ...model.graph, initializers } };
}

/** Concatenates, keeping whole channel rows, every k-th row so that at most `cap` values remain. */
function subsample(chunks: Float32Array[], channels: number, cap: number): Float32Array {
  const total = chunks.reduce((a, c) => a + c.length, 0);
  const rows = total / channels;
  const stride = Math.max(1, Math.ceil(total / cap));
  const out = new Float32Array(Math.ceil(rows / stride) * channels);
  let row = 0;
  let o = 0;
  for (const c of chunks) {
    for (let r = 0; r < c.length / channels; r++, row++) {
      if (row % stride !== 0) continue;
      out.set(c.subarray(r * channels, (r + 1) * channels), o);
      o += channels;
    }
  }
  return out.subarray(0, o);
}

function splitChannels(values: Float32Array, channels: number): Float32Array[] {
  const n = values.length / channels;
  const per = Array.from({ length: channels }, () => new Float32Array(n));
  for (let i = 0; i < n; i++) for (let c = 0; c < channels; c++) per[c][i] = values[i * channels + c];
  return per;
}

export function quantile(values: Float32Array, q: number): number {
  if (!values.length) return 0;
  const s = Float32Array.from(values).sort();
  const pos = q * (s.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, s.length - 1);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

/**
 * The clip value s minimising the mean squared error of B-bit quantization of |x| over a grid of
 * fractions of max|x|. Clipping rare large values buys resolution for the many small ones.
 */
export function mseOptimalClip(abs: Float32Array, bits: number): number {
  const max = abs.reduce((a, b) => (b > a ? b : a), 0);
  if (max === 0) return 1;
  const n = levels(bits);
  let best = max;
  let bestErr = Infinity;
  for (let k = 100; k >= 10; k -= 2) {
    const s = (max * k) / 100;
    let err = 0;
    for (let i = 0; i < abs.length; i++) {
      const v = abs[i];
      const q = (Math.round(Math.min(v / s, 1) * n) * s) / n;
      err += (v - q) * (v - q);
    }
    if (err < bestErr) {
      bestErr = err;
      best = s;
    }
  }
  return best;
}
