import type { SampleRange } from '../data/index.js';
import { ShardError } from '../errors/index.js';
import { checkShardSet, shardLabel, type ShardStamp } from '../io/index.js';
import { addCounts, reportFromCounts } from './report-counts.js';
import type { ReportCounts, ReportFacts, ReportResult } from './report-types.js';

/** One shard of a sharded evaluation: which samples it covered, and its facts and exact counts. */
export interface ReportShard extends ShardStamp {
  /** The file it was read from (error messages name it). */
  path: string;
  /** Positions [first, end) of the evaluated samples (the data's order, after --limit). */
  samples: SampleRange;
  facts: ReportFacts;
  counts: ReportCounts;
}

/** The merged report and, when shards were missing (`allowPartial`), which. */
export interface MergedReport {
  report: ReportResult;
  /** Shard indices that were not given (empty for a complete merge). */
  missing: number[];
}

/**
 * Merges the shards of one sharded evaluation into the report one unsharded pass gives: the shards' counts
 * added and the figures computed from the sums (reportFromCounts), the decision maps from the shard holding the
 * first samples. Refuses (ShardError, naming the files) shards of different runs, a shard twice, a missing shard
 * unless `allowPartial`, and shards whose samples or layers do not fit together.
 */
export function mergeReportShards(shards: readonly ReportShard[], opts: { allowPartial: boolean }): MergedReport {
  const missing = checkShardSet(shards, opts.allowPartial);
  const ordered = [...shards].sort((a, b) => a.shard.index - b.shard.index);
  checkSamples(ordered, missing.length === 0);
  const [first] = ordered;
  // The model's and the data's paths as given may differ between machines; the identity holds their hashes and sizes.
  const comparable = ({ decision_maps: _maps, model: _model, data: _data, ...facts }: ReportFacts) => JSON.stringify(facts);
  const firstFacts = comparable(first.facts);
  for (const s of ordered) {
    if (comparable(s.facts) !== firstFacts) {
      throw new ShardError(`${first.path} and ${s.path} describe different layers or ops of the model`, { action: 'run the shards again from the same model with the same pg' });
    }
    if (
      s.counts.updated.length !== s.facts.layers.length ||
      (s.counts.sensitivity?.length ?? -1) !== (first.counts.sensitivity?.length ?? -1) ||
      !s.counts.baseline !== !first.counts.baseline
    ) {
      throw new ShardError(`${s.path}: its counts do not fit its layers or the other shards' (a corrupt shard file)`, { action: 'run that shard again' });
    }
  }
  const holder = ordered.find((s) => s.samples.first === 0);
  const facts: ReportFacts = { ...first.facts };
  delete facts.decision_maps;
  if (holder?.facts.decision_maps) facts.decision_maps = holder.facts.decision_maps;
  return { report: reportFromCounts(facts, addCounts(ordered.map((s) => s.counts))), missing };
}

/** Shards' sample ranges chain (each starts where the one before ended, the first at 0 when complete) and their counts cover them. */
function checkSamples(ordered: readonly ReportShard[], complete: boolean): void {
  for (const [i, s] of ordered.entries()) {
    const { first, end } = s.samples;
    if (!(Number.isSafeInteger(first) && Number.isSafeInteger(end) && first >= 0 && end > first) || s.counts.samples + s.counts.skipped_files !== end - first) {
      throw new ShardError(`${s.path}: shard ${shardLabel(s.shard)} counts ${s.counts.samples} sample(s) for positions ${first}-${end - 1} (a corrupt shard file)`, {
        action: 'run that shard again',
      });
    }
    const before = ordered[i - 1];
    const chained = before === undefined ? !complete || first === 0 : before.shard.index !== s.shard.index - 1 || before.samples.end === first;
    if (!chained) {
      throw new ShardError(`${s.path}: shard ${shardLabel(s.shard)} starts at sample ${first}, ${before ? `but ${before.path} ends at ${before.samples.end}` : 'not at 0'}`, {
        action: 'merge shards of one run (the same --batch-size and --limit)',
      });
    }
  }
}
