import * as tf from '@tensorflow/tfjs-core';
import type { Batch, Dataset } from '../data/index.js';
import type { Model, Node } from '../graph/index.js';
import { InvalidDataError, UsageError } from '../errors/index.js';
import { Executor } from '../runtime/executor.js';
import type { Observer } from '../runtime/kernel.js';
import { tensorFromBatch } from '../runtime/feeds.js';
import { OBSERVE, actScaleMode, conversionMode, opRegistry, pgLayers } from '../pg/index.js';
import { COST_OPS, macsPerOutput } from './layer-cost.js';
import { nonNegativeValues } from './input-sign.js';
import { otherOpCounts } from './other-ops.js';
import type { DecisionMap, DecisionSample, LayerReport, ReportResult, ThresholdStats } from './report-types.js';

export interface ReportOptions {
  batchSize: number;
  baseline?: Model;
  /** Evaluate only the first N samples. */
  limit?: number;
  /** Record the gate decisions of every gated layer for the first N samples (`decision_maps`). */
  decisionMaps?: number;
  /** Only these gated layers' decision maps (node names); all when absent. */
  decisionLayers?: string[];
}

interface Evaluation {
  samples: number;
  correct: number;
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
      for (let ch = 0; ch < c; ch++) for (let j = 0; j < h * w; j++) px[j] += batch.x[((i * c + ch) * h * w) + j] / c;
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
export async function evaluate(
  model: Model,
  data: Dataset,
  batchSize: number,
  limit?: number,
  decisionMaps = 0,
  decisionLayers?: ReadonlySet<string>,
): Promise<Evaluation> {
  if (!data.hasLabels) throw new InvalidDataError(`${data.name} has no labels; accuracy needs them`, { action: 'give labels (--labels y.npy, or y in the .npz)' });
  const exec = new Executor(model, { registry: opRegistry });
  const inputName = exec.graph.inputs.find((i) => !exec.graph.initializers.has(i.name))!.name;
  const outputName = exec.graph.outputs[0].name;
  const layerNodes = exec.order.filter((n) => COST_OPS.has(n.opType));
  const ev: Evaluation = { samples: 0, correct: 0, outputs: new Map(), updated: new Map(), shapes: new Map(), order: exec.order };
  // Decision maps come from the first batch only; a later batch would only add samples nobody asked for.
  let mapSamples = 0;
  const observer: Observer = {
    wants: (_n, key) => key === OBSERVE.gate,
    observe: (node, _k, m) => {
      ev.updated.set(node, (ev.updated.get(node) ?? 0) + tf.sum(m).dataSync()[0]);
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
      const predicted = tf.tidy(() => {
        const x = tensorFromBatch(batch.x, batch.shape);
        const names = first ? [outputName, ...layerNodes.map((n) => n.outputs[0])] : [outputName];
        const out = exec.run({ [inputName]: x }, { outputs: names, observer });
        if (first) for (const n of layerNodes) ev.outputs.set(n, out[n.outputs[0]].size / batch.shape[0]);
        return tf.argMax(out[outputName], -1);
      });
      const p = predicted.dataSync();
      predicted.dispose();
      for (let i = 0; i < p.length; i++) if (p[i] === batch.y![i]) ev.correct++;
      if (mapSamples > 0 && ev.maps) ev.maps.samples = samplePictures(batch, mapSamples, p);
      ev.samples += p.length;
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

function thresholdStats(values: Float32Array): ThresholdStats {
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const std = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / n);
  return { min: Math.min(...values), mean, max: Math.max(...values), std };
}

/** Decision maps exist for gated layers only: refuse other names before the run, listing the valid ones. */
function checkDecisionLayers(model: Model, names: ReadonlySet<string>): void {
  const gated = pgLayers(model)
    .filter((l) => l.gated)
    .map((l) => l.node.name);
  const unknown = [...names].filter((n) => !gated.includes(n));
  if (unknown.length === 0) return;
  throw new UsageError(`no decision map for ${unknown.map((n) => `'${n}'`).join(', ')}: not a gated layer of ${model.sourcePath ?? 'the model'}`, {
    action: gated.length ? `choose from: ${gated.join(', ')}` : 'the model has no gated layer; convert it with pg convert first',
  });
}

/**
 * The `pg report` measurement: accuracy, the gated layers' sparsity (per element and MAC-weighted) and B_avg,
 * per-layer figures and the other ops' work. The whole-model figures are priced from these by the caller
 * (`whole_model`: the cost models live in @pg/exporters).
 */
export async function reportModel(model: Model, data: Dataset, opts: ReportOptions): Promise<ReportResult> {
  const layersWanted = opts.decisionLayers?.length ? new Set(opts.decisionLayers) : undefined;
  if (layersWanted) checkDecisionLayers(model, layersWanted);
  const ev = await evaluate(model, data, opts.batchSize, opts.limit, opts.decisionMaps, layersWanted);
  const pg = new Map(pgLayers(model).map((l) => [l.node.name, l]));
  const unsigned = nonNegativeValues(model.graph, ev.order);
  const layers: LayerReport[] = [];
  let outs = 0;
  let upd = 0;
  let outsMac = 0;
  let updMac = 0;
  for (const [node, perSample] of ev.outputs) {
    const l = pg.get(node.name);
    const k = macsPerOutput(node, model.graph);
    const updated = ev.updated.get(node);
    const gated = !!l?.gated;
    const total = perSample * ev.samples;
    if (gated && updated !== undefined) {
      outs += total;
      upd += updated;
      outsMac += total * k;
      updMac += updated * k;
    }
    const thr = l?.threshold ? model.graph.initializers.get(l.threshold) : undefined;
    const thrValues = thr ? (thr.data() as Float32Array) : undefined;
    layers.push({
      name: node.name,
      op: node.opType,
      gated,
      bits: l?.bits ?? null,
      hbits: l?.hbits ?? null,
      wbits: l?.wbits ?? null,
      ...(gated ? { gate_mode: l!.recompute ? ('seernet' as const) : ('pg' as const) } : {}),
      macs: perSample * k,
      outputs: perSample,
      input_signed: !unsigned.has(node.inputs[0]),
      high_precision_fraction: gated && updated !== undefined ? updated / total : null,
      threshold: thrValues ? thresholdStats(thrValues) : null,
      threshold_per_channel: thrValues ? Array.from(thrValues) : null,
    });
  }
  const gatedLayers = [...pg.values()].filter((l) => l.gated);
  // Without gated layers (--mode static) the quantized layers' B: the first layer's own bits are not it.
  const quantized = [...pg.values()].filter((l) => !l.gated);
  const modal = (k: 'bits' | 'wbits') => quantized.find((l) => quantized.filter((o) => o[k] === l[k]).length * 2 > quantized.length)?.[k] ?? quantized[quantized.length - 1]?.[k] ?? null;
  const bits = gatedLayers[0]?.bits ?? modal('bits');
  const hbits = gatedLayers[0]?.hbits ?? null;
  const sparsity = outs ? 1 - upd / outs : 0;
  const bavg = bits !== null && hbits !== null ? hbits + (1 - sparsity) * (bits - hbits) : null;
  const result: ReportResult = {
    model: model.sourcePath ?? '',
    data: data.name,
    samples: ev.samples,
    skipped_files: 0,
    accuracy: ev.correct / ev.samples,
    sparsity,
    sparsity_mac_weighted: outsMac ? 1 - updMac / outsMac : 0,
    bavg,
    act_scale: pg.size ? actScaleMode(model) : 'none (float model)',
    mode: pg.size ? conversionMode(model) : null,
    bits,
    hbits,
    wbits: gatedLayers[0]?.wbits ?? modal('wbits'),
    layers,
    other_ops: otherOpCounts(ev.order, ev.shapes),
  };
  if (ev.maps) {
    const maps = ev.maps;
    result.decision_maps = {
      samples: maps.samples,
      layers: [...maps.perNode].map(([node, m]) => ({ layer: node.name, ...m })),
    };
  }
  if (opts.baseline) {
    const base = await evaluate(opts.baseline, data, opts.batchSize, opts.limit);
    result.baseline_accuracy = base.correct / base.samples;
    result.accuracy_drop = result.baseline_accuracy - result.accuracy;
  }
  result.skipped_files = data.skipped?.size ?? 0;
  return result;
}
