import type { Dataset } from '../data/index.js';
import { constTensor, type Model } from '../graph/index.js';
import { pgLayers } from '../gating/index.js';
import { evaluate } from './evaluate.js';
import { sensitivityFromCounts } from './report-counts.js';
import type { LayerSensitivity, ReportCounts } from './report-types.js';

export interface SensitivityOptions {
  batchSize: number;
  limit?: number;
  /** Called before each layer is measured (progress). */
  onLayer?: (layer: string, index: number, count: number) => void;
}

/** A copy of the model whose gated layer `thresholdName` has every threshold set to `value` (the rest shared). */
export function withThreshold(model: Model, thresholdName: string, value: number): Model {
  const initializers = new Map(model.graph.initializers);
  const dims = initializers.get(thresholdName)!.dims.slice();
  initializers.set(thresholdName, constTensor(thresholdName, 'float32', dims, new Float32Array(dims.reduce((a, b) => a * b, 1)).fill(value)));
  return { ...model, graph: { ...model.graph, initializers } };
}

/**
 * Per gated layer, the correct predictions with that layer alone at full precision (Δ = -∞: the gate
 * M = 1[O_hb > Δ] is always on, every output takes the update) and alone at prediction bits (Δ = +∞: always
 * off, B_hb only), the other layers as trained.
 */
export async function sensitivityCounts(model: Model, data: Dataset, opts: SensitivityOptions): Promise<{ samples: number; layers: NonNullable<ReportCounts['sensitivity']> }> {
  const gated = pgLayers(model).filter((l) => l.gated && l.threshold !== undefined);
  const layers: NonNullable<ReportCounts['sensitivity']> = [];
  let samples = 0;
  for (const [i, l] of gated.entries()) {
    opts.onLayer?.(l.node.name, i, gated.length);
    const correct = async (value: number) => {
      const ev = await evaluate(withThreshold(model, l.threshold!, value), data, opts.batchSize, opts.limit);
      samples = ev.samples;
      return ev.correct;
    };
    layers.push({ layer: l.node.name, full_precision: await correct(-Infinity), prediction_only: await correct(Infinity) });
  }
  return { samples, layers };
}

/** Per gated layer, the accuracy with that layer alone at full precision and alone at prediction bits: shows which layer costs accuracy. */
export async function layerSensitivity(model: Model, data: Dataset, opts: SensitivityOptions): Promise<LayerSensitivity[]> {
  const { samples, layers } = await sensitivityCounts(model, data, opts);
  return sensitivityFromCounts(layers, samples);
}
