import type { Dataset } from '../data/index.js';
import type { Model } from '../graph/index.js';
import { UsageError } from '../errors/index.js';
import { META, actScaleMode, conversionMode, gateKind, pgLayers, type PgLayer } from '../gating/index.js';
import { evaluate, type Evaluation } from './evaluate.js';
import { macsPerOutput } from './layer-cost.js';
import { nonNegativeValues } from './input-sign.js';
import { otherOpCounts } from './other-ops.js';
import { reportFromCounts } from './report-counts.js';
import type { LayerFacts, ReportCounts, ReportFacts, ReportResult, ThresholdStats } from './report-types.js';
import { sensitivityCounts, type SensitivityOptions } from './sensitivity.js';

export interface ReportOptions {
  batchSize: number;
  baseline?: Model;
  /** Evaluate only the first N samples. */
  limit?: number;
  /** Record the gate decisions of every gated layer for the first N samples (`decision_maps`). */
  decisionMaps?: number;
  /** Only these gated layers' decision maps (node names); all when absent. */
  decisionLayers?: string[];
  /** Also measure each gated layer alone at full precision and alone at prediction bits (`sensitivity`). */
  sensitivity?: boolean;
  /** Called before each layer's sensitivity is measured (progress). */
  onSensitivityLayer?: SensitivityOptions['onLayer'];
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

/** The facts of one evaluated model (its layers as the evaluation saw them) and its counts of `updated`, layer by layer. */
function layerFacts(model: Model, ev: Evaluation): { layers: LayerFacts[]; updated: Array<number | null> } {
  const pg = new Map(pgLayers(model).map((l) => [l.node.name, l]));
  const unsigned = nonNegativeValues(model.graph, ev.order);
  const layers: LayerFacts[] = [];
  const updated: Array<number | null> = [];
  for (const [node, perSample] of ev.outputs) {
    const l = pg.get(node.name);
    const gated = !!l?.gated;
    const thr = l?.threshold ? model.graph.initializers.get(l.threshold) : undefined;
    const thrValues = thr ? (thr.data() as Float32Array) : undefined;
    updated.push(gated ? (ev.updated.get(node) ?? null) : null);
    layers.push({
      name: node.name,
      op: node.opType,
      gated,
      gate: gateKind(l),
      bits: l?.bits ?? null,
      hbits: l?.hbits ?? null,
      wbits: l?.wbits ?? null,
      ...(gated ? { gate_mode: l!.recompute ? ('seernet' as const) : ('pg' as const) } : {}),
      macs: perSample * macsPerOutput(node, model.graph),
      outputs: perSample,
      input_signed: !unsigned.has(node.inputs[0]),
      threshold: thrValues ? thresholdStats(thrValues) : null,
      threshold_per_channel: thrValues ? Array.from(thrValues) : null,
    });
  }
  return { layers, updated };
}

/** The model's B, B_hb and weight bits: the gated layers'; without any (--mode static) the quantized layers' most common. */
function modelBits(pg: PgLayer[]): { bits: number | null; hbits: number | null; wbits: number | null } {
  const gated = pg.find((l) => l.gated);
  if (gated) return { bits: gated.bits, hbits: gated.hbits, wbits: gated.wbits };
  // The first layer's own bits (--first-layer-bits) are not the model's B: take the majority, else the last layer's.
  const modal = (k: 'bits' | 'wbits') => pg.find((l) => pg.filter((o) => o[k] === l[k]).length * 2 > pg.length)?.[k] ?? pg[pg.length - 1]?.[k] ?? null;
  return { bits: modal('bits'), hbits: null, wbits: modal('wbits') };
}

/**
 * The `pg report` measurement as facts (the model's layers, other ops, decision maps) and exact counts
 * (samples, correct predictions, updated outputs per layer, the baseline's and the sensitivity passes'),
 * from which reportFromCounts computes the figures; a sharded evaluation adds its shards' counts.
 */
export async function measureReport(model: Model, data: Dataset, opts: ReportOptions): Promise<{ facts: ReportFacts; counts: ReportCounts }> {
  const layersWanted = opts.decisionLayers?.length ? new Set(opts.decisionLayers) : undefined;
  if (layersWanted) checkDecisionLayers(model, layersWanted);
  const ev = await evaluate(model, data, opts.batchSize, opts.limit, opts.decisionMaps, layersWanted);
  const pg = pgLayers(model);
  const { layers, updated } = layerFacts(model, ev);
  const facts: ReportFacts = {
    model: model.sourcePath ?? '',
    data: data.name,
    act_scale: pg.length ? actScaleMode(model) : 'none (float model)',
    mode: pg.length ? conversionMode(model) : null,
    ...modelBits(pg),
    layers,
    other_ops: otherOpCounts(ev.order, ev.shapes),
  };
  // A language model's data has a label per step: its report gives perplexity (from the likelihood of each label).
  if (ev.nll !== undefined) facts.perplexity_unit = model.metadata[META.lmUnit] ?? 'token';
  if (ev.maps) {
    const maps = ev.maps;
    facts.decision_maps = { samples: maps.samples, layers: [...maps.perNode].map(([node, m]) => ({ layer: node.name, ...m })) };
  }
  const counts: ReportCounts = { samples: ev.samples, correct: ev.correct, scored: ev.scored, skipped_files: 0, updated };
  if (ev.nll !== undefined) counts.nll = ev.nll;
  if (opts.baseline) {
    const base = await evaluate(opts.baseline, data, opts.batchSize, opts.limit);
    counts.baseline = { samples: base.samples, correct: base.correct, scored: base.scored };
    if (base.nll !== undefined) counts.baseline.nll = base.nll;
  }
  if (opts.sensitivity) counts.sensitivity = (await sensitivityCounts(model, data, { batchSize: opts.batchSize, limit: opts.limit, onLayer: opts.onSensitivityLayer })).layers;
  counts.skipped_files = data.skipped?.size ?? 0;
  return { facts, counts };
}

/**
 * The `pg report` measurement: accuracy, the gated layers' sparsity (per element and MAC-weighted) and B_avg,
 * per-layer figures and the other ops' work. The whole-model figures are priced from these by the caller
 * (`whole_model`: the cost models live in @pg/exporters).
 */
export async function reportModel(model: Model, data: Dataset, opts: ReportOptions): Promise<ReportResult> {
  const { facts, counts } = await measureReport(model, data, opts);
  return reportFromCounts(facts, counts);
}
