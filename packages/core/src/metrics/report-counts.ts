import type { LayerSensitivity, ReportCounts, ReportFacts, ReportResult } from './report-types.js';

/**
 * The `pg report` figures from what a pass counted: accuracy, the gated layers' sparsity (per element and
 * MAC-weighted), B_avg, each layer's updated fraction, the baseline's accuracy and drop, the sensitivity
 * accuracies. The one place they are computed, for a single pass and for the sum of a sharded pass's counts
 * alike, so both give the same numbers from the same integers.
 */
export function reportFromCounts(facts: ReportFacts, counts: ReportCounts): ReportResult {
  let outs = 0;
  let upd = 0;
  let outsMac = 0;
  let updMac = 0;
  const layers = facts.layers.map((l, i) => {
    const updated = counts.updated[i];
    const total = l.outputs * counts.samples;
    const measured = l.gated && updated !== null && updated !== undefined;
    if (measured) {
      const k = l.outputs > 0 ? l.macs / l.outputs : 0;
      outs += total;
      upd += updated;
      outsMac += total * k;
      updMac += updated * k;
    }
    const { threshold, threshold_per_channel, ...rest } = l;
    return { ...rest, high_precision_fraction: measured ? updated / total : null, threshold, threshold_per_channel };
  });
  const sparsity = outs ? 1 - upd / outs : 0;
  const { bits, hbits } = facts;
  const result: ReportResult = {
    model: facts.model,
    data: facts.data,
    samples: counts.samples,
    skipped_files: counts.skipped_files,
    accuracy: counts.correct / counts.scored,
    sparsity,
    sparsity_mac_weighted: outsMac ? 1 - updMac / outsMac : 0,
    bavg: bits !== null && hbits !== null ? hbits + (1 - sparsity) * (bits - hbits) : null,
    act_scale: facts.act_scale,
    mode: facts.mode,
    bits,
    hbits,
    wbits: facts.wbits,
    layers,
    other_ops: facts.other_ops,
  };
  if (facts.decision_maps) result.decision_maps = facts.decision_maps;
  if (counts.baseline) {
    result.baseline_accuracy = counts.baseline.correct / counts.baseline.scored;
    result.accuracy_drop = result.baseline_accuracy - result.accuracy;
  }
  if (counts.nll !== undefined) {
    result.perplexity = Math.exp(counts.nll / counts.scored);
    result.perplexity_unit = facts.perplexity_unit ?? 'token';
    if (counts.baseline?.nll !== undefined) {
      result.baseline_perplexity = Math.exp(counts.baseline.nll / counts.baseline.scored);
      result.perplexity_increase = result.perplexity / result.baseline_perplexity - 1;
    }
  }
  if (counts.sensitivity) result.sensitivity = sensitivityFromCounts(counts.sensitivity, counts.samples);
  return result;
}

/** The sensitivity accuracies from their correct predictions over `samples`. */
export function sensitivityFromCounts(counts: NonNullable<ReportCounts['sensitivity']>, samples: number): LayerSensitivity[] {
  return counts.map((c) => ({ layer: c.layer, accuracy_full_precision: c.full_precision / samples, accuracy_prediction_only: c.prediction_only / samples }));
}

/**
 * The counts of several passes over disjoint samples of one evaluation, added: what one pass over all of
 * them counts. The parts must come from the same model and options (the caller checks their facts agree).
 */
export function addCounts(parts: readonly ReportCounts[]): ReportCounts {
  const [first, ...rest] = parts;
  const sum: ReportCounts = structuredClone(first);
  for (const c of rest) {
    sum.samples += c.samples;
    sum.correct += c.correct;
    sum.scored += c.scored;
    if (sum.nll !== undefined && c.nll !== undefined) sum.nll += c.nll;
    sum.skipped_files += c.skipped_files;
    sum.updated = sum.updated.map((u, i) => (u === null || c.updated[i] === null ? null : u + c.updated[i]!));
    if (sum.baseline && c.baseline) {
      sum.baseline.samples += c.baseline.samples;
      sum.baseline.correct += c.baseline.correct;
      sum.baseline.scored += c.baseline.scored;
      if (sum.baseline.nll !== undefined && c.baseline.nll !== undefined) sum.baseline.nll += c.baseline.nll;
    }
    sum.sensitivity?.forEach((s, i) => {
      s.full_precision += c.sensitivity![i].full_precision;
      s.prediction_only += c.sensitivity![i].prediction_only;
    });
  }
  return sum;
}

/** A report's facts: what two shards of one evaluation must agree on (the decision maps aside: the first shard has them). */
export function reportFacts(r: ReportResult): ReportFacts {
  return {
    model: r.model,
    data: r.data,
    act_scale: r.act_scale,
    mode: r.mode,
    bits: r.bits,
    hbits: r.hbits,
    wbits: r.wbits,
    layers: r.layers.map(({ high_precision_fraction: _measured, ...facts }) => facts),
    other_ops: r.other_ops,
    ...(r.perplexity_unit !== undefined ? { perplexity_unit: r.perplexity_unit } : {}),
    ...(r.decision_maps ? { decision_maps: r.decision_maps } : {}),
  };
}
