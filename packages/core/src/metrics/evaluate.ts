import * as tf from '@tensorflow/tfjs-core';
import type { Batch, Dataset } from '../data/index.js';
import type { Model, Node } from '../graph/index.js';
import { InvalidDataError } from '../errors/index.js';
import { Executor } from '../interpreter/executor.js';
import type { Observer } from '../interpreter/kernel.js';
import { tensorFromBatch } from '../interpreter/feeds.js';
import { OBSERVE, opRegistry } from '../gating/index.js';
import { COST_OPS, isRecurrentLayer, recurrentOutputsPerSample } from './layer-cost.js';
import type { DecisionMap, DecisionSample } from './report-types.js';

export interface Evaluation {
  samples: number;
  /** Labels scored: one per sample, or one per step for a language model (labelShape). */
  scored: number;
  correct: number;
  /** Language models: the summed negative log-likelihood of the labels (natural log). */
  nll?: number;
  /** Per layer node: outputs per sample (from the first batch's shapes). */
  outputs: Map<Node, number>;
  /** Per gated node: outputs that took the update, over the whole data set. */
  updated: Map<Node, number>;
  /** Every value's shape at batch 1 (the graph input and each node's outputs), from the first sample. */
  shapes: Map<string, number[]>;
  /** The nodes in execution order. */
  order: Node[];
  /**
   * With decision maps: the shown samples and, per gated node, its map per sample: for a conv [H, W] fractions
   * of channels updated, for a linear layer one row of its C output units (1 where updated).
   */
  maps?: { samples: DecisionSample[]; perNode: Map<Node, Omit<DecisionMap, 'layer'>> };
}

/** A picture of each of the first `n` samples of the data set's first batch: channel mean, min-max scaled to [0, 1]. */
function samplePictures(batch: Batch, n: number, predicted: ArrayLike<number>): DecisionSample[] {
  const [, c, h, w] = batch.shape;
  const image = batch.shape.length === 4;
  const out: DecisionSample[] = [];
  for (let i = 0; i < n; i++) {
    let picture: DecisionSample['image'] = null;
    if (image) {
      const px = new Float64Array(h * w);
      for (let ch = 0; ch < c; ch++) for (let j = 0; j < h * w; j++) px[j] += batch.x[(i * c + ch) * h * w + j] / c;
      let lo = Infinity;
      let hi = -Infinity;
      for (const v of px) {
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
      const range = hi > lo ? hi - lo : 1;
      picture = { height: h, width: w, pixels: Array.from(px, (v) => round3((v - lo) / range)) };
    }
    out.push({ index: i, label: batch.y ? batch.y[i] : null, predicted: predicted[i], image: picture });
  }
  return out;
}

/** Three decimals: a map of fractions needs no more, and the HTML report stays small. */
const round3 = (v: number): number => Math.round(v * 1000) / 1000;

/**
 * Runs a model over a data set in batches (memory does not grow with the data set) and measures
 * accuracy and, for gated layers, how many outputs took the low-bit update.
 */
export async function evaluate(model: Model, data: Dataset, batchSize: number, limit?: number, decisionMaps = 0, decisionLayers?: ReadonlySet<string>): Promise<Evaluation> {
  if (!data.hasLabels) throw new InvalidDataError(`${data.name} has no labels; accuracy needs them`, { action: 'give labels (--labels y.npy, or y in the .npz)' });
  const exec = new Executor(model, { registry: opRegistry });
  const inputName = exec.graph.inputs.find((i) => !exec.graph.initializers.has(i.name))!.name;
  const outputName = exec.graph.outputs[0].name;
  const layerNodes = exec.order.filter((n) => COST_OPS.has(n.opType));
  const ev: Evaluation = { samples: 0, scored: 0, correct: 0, outputs: new Map(), updated: new Map(), shapes: new Map(), order: exec.order };
  // A language model's data has a label per step: its report gives perplexity (from the likelihood of each label).
  const perStep = data.labelShape !== undefined;
  if (perStep) ev.nll = 0;
  // Decision maps come from the first batch only; a later batch would only add samples nobody asked for.
  let mapSamples = 0;
  const observer: Observer = {
    wants: (_n, key) => key === OBSERVE.gate,
    observe: (node, _k, m) => {
      // An integer sum: a float32 one stops counting exactly past 2^24 updated outputs in a batch.
      ev.updated.set(node, (ev.updated.get(node) ?? 0) + tf.sum(tf.cast(m, 'int32')).dataSync()[0]);
      if (mapSamples > 0 && (m.rank === 4 || m.rank === 2) && ev.maps && (decisionLayers === undefined || decisionLayers.has(node.name))) {
        // A conv's m is NHWC: the mean over C is the fraction of channels updated at each position. A linear
        // layer's m is [N, C]: each output unit's decision, drawn as one row.
        const conv = m.rank === 4;
        const height = conv ? m.shape[1]! : 1;
        const width = conv ? m.shape[2]! : m.shape[1]!;
        const fr = (conv ? tf.mean(tf.slice(m, [0, 0, 0, 0], [mapSamples, -1, -1, -1]), 3) : tf.slice(m, [0, 0], [mapSamples, -1])).dataSync();
        const fractions: number[][] = [];
        for (let i = 0; i < mapSamples; i++) fractions.push(Array.from(fr.subarray(i * height * width, (i + 1) * height * width), round3));
        ev.maps.perNode.set(node, { kind: conv ? 'conv' : 'linear', height, width, fractions });
      }
    },
  };
  if (decisionMaps > 0) ev.maps = { samples: [], perNode: new Map() };
  try {
    for await (const batch of data.batches(batchSize, { limit })) {
      const first = ev.samples === 0;
      if (first) recordShapes(exec, inputName, batch, ev.shapes);
      mapSamples = first ? Math.min(decisionMaps, batch.shape[0]) : 0;
      const { predicted, nll } = tf.tidy(() => {
        const x = tensorFromBatch(batch.x, batch.shape);
        // A layer's size from its output; a recurrent layer's (whose Y may be left out) from its input X.
        const sizeOf = (n: Node) => (isRecurrentLayer(n) ? n.inputs[0] : n.outputs[0]);
        const names = first ? [outputName, ...layerNodes.map(sizeOf)] : [outputName];
        const out = exec.run({ [inputName]: x }, { outputs: names, observer });
        if (first) {
          for (const n of layerNodes)
            ev.outputs.set(n, isRecurrentLayer(n) ? recurrentOutputsPerSample(n, exec.graph, out[n.inputs[0]].shape) : out[n.outputs[0]].size / batch.shape[0]);
        }
        const logits = out[outputName];
        if (!perStep) return { predicted: tf.argMax(logits, -1), nll: undefined };
        const classes = logits.shape[logits.rank - 1];
        const rows = tf.reshape(logits, [-1, classes]);
        const picked = tf.mul(tf.logSoftmax(rows), tf.cast(tf.oneHot(tf.tensor1d(batch.y!, 'int32'), classes), 'float32'));
        return { predicted: tf.argMax(rows, -1), nll: tf.neg(tf.sum(picked)) };
      });
      const p = predicted.dataSync();
      if (nll) ev.nll! += nll.dataSync()[0];
      tf.dispose([predicted, nll]);
      for (let i = 0; i < p.length; i++) if (p[i] === batch.y![i]) ev.correct++;
      if (mapSamples > 0 && ev.maps && !perStep) ev.maps.samples = samplePictures(batch, mapSamples, p);
      ev.samples += batch.shape[0];
      ev.scored += p.length;
      await new Promise((r) => setImmediate(r));
    }
  } finally {
    exec.dispose();
  }
  if (ev.samples === 0) {
    const skipped = data.skipped?.size ?? 0;
    throw new InvalidDataError(`${data.name} ${skipped > 0 ? `has no readable sample (${skipped} file(s) skipped as unreadable)` : 'is empty'}`, {
      action: skipped > 0 ? 'replace the unreadable files' : 'give a data set with at least one sample',
    });
  }
  return ev;
}

/**
 * Every value's shape, from one run on the batch's first sample (without the observer: no gate is counted),
 * for the other ops' work. A separate batch-1 run keeps the evaluation from holding every activation of a
 * whole batch at once.
 */
function recordShapes(exec: Executor, inputName: string, batch: Batch, shapes: Map<string, number[]>): void {
  // First outputs only: other-op counts read those, and optional extra outputs (Dropout's mask) may not exist.
  const names = [...new Set(exec.order.map((n) => n.outputs[0]).filter((o): o is string => !!o))];
  tf.tidy(() => {
    const x = tf.slice(tensorFromBatch(batch.x, batch.shape), 0, 1);
    shapes.set(inputName, x.shape.slice());
    const out = exec.run({ [inputName]: x }, { outputs: names });
    for (const [name, t] of Object.entries(out)) shapes.set(name, t.shape.slice());
  });
}
