import {
  dataSlice,
  readShardJson,
  reportFacts,
  shardLabel,
  shardRange,
  ShardError,
  shardStamp,
  UsageError,
  type Dataset,
  type ReportCounts,
  type ReportFacts,
  type ReportResult,
  type ReportShard,
  type SampleRange,
  type ShardSpec,
} from '@pg/core';
import type { ReportJson } from './report-format.js';

/**
 * What a shard's report (`pg report --shard K/N --json`) adds to the report of its samples: which shard and
 * samples, what it was computed from, and the exact counts `pg report merge` adds up. Schema: report.schema.json.
 */
export interface ReportShardJson {
  index: number;
  count: number;
  /** Positions [first, end) of the evaluated samples (the data's order, after --limit). */
  samples: SampleRange;
  /** Model and compared models' SHA-256, the data and its size, the flags that change a result, pg's version. */
  identity: Record<string, unknown>;
  counts: ReportCounts;
  /** With --compare: each compared model's facts and counts over the same samples. */
  compared?: Array<{ model: string; facts: ReportFacts; counts: ReportCounts }>;
}

/** The samples of shard `shard` of an evaluation of `data` limited to `limit`: whole batches, as `pg report merge` expects. */
export function reportShardData(data: Dataset, shard: ShardSpec, batchSize: number, limit: number | undefined): { data: Dataset; samples: SampleRange; evaluated: number } {
  const evaluated = Math.min(limit ?? data.size, data.size);
  const samples = shardRange(evaluated, batchSize, shard);
  return { data: dataSlice(data, samples, `shard ${shardLabel(shard)}`), samples, evaluated };
}

/** A report of shard files: its --json envelope (as `> part.json` saves it) or the result alone (--format json -o). */
function reportOf(path: string, doc: unknown): ReportJson & { shard?: ReportShardJson } {
  const d = doc as { status?: unknown; result?: unknown; message?: unknown } | null;
  if (d !== null && typeof d === 'object' && 'status' in d) {
    if (d.status !== 0 && d.status !== 10) {
      throw new ShardError(`${path} holds the error of a failed run (${String(d.message ?? `status ${String(d.status)}`)}), not a shard's report`, {
        action: 'run that shard again',
      });
    }
    return d.result as ReportJson;
  }
  return doc as ReportJson;
}

/** Shape checks on what merge reads: a corrupt file is a ShardError naming it, not a crash later. */
function checkCounts(path: string, c: ReportCounts | undefined): ReportCounts {
  const whole = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
  const ok = c !== undefined && whole(c.samples) && whole(c.correct) && whole(c.skipped_files) && Array.isArray(c.updated) && c.updated.every((u) => u === null || whole(u));
  if (!ok) throw new ShardError(`${path}: its shard counts are missing or not whole numbers (a corrupt shard file)`, { action: 'run that shard again' });
  return c;
}

/**
 * The shards in `paths` as core merges them: the main model's, and per compared model (in --compare order)
 * its own. A file that is not a shard's report is a ShardError naming it.
 */
export async function readReportShards(paths: readonly string[]): Promise<{ model: ReportShard[]; compared: Array<{ model: string; shards: ReportShard[] }> }> {
  const model: ReportShard[] = [];
  const compared: Array<{ model: string; shards: ReportShard[] }> = [];
  for (const path of paths) {
    const report = reportOf(path, await readShardJson(path));
    const shard = report?.shard;
    if (typeof report !== 'object' || report === null || shard === undefined) {
      throw new ShardError(`${path} is not a shard's report: it has no 'shard' block`, { action: "give the --json output of 'pg report --shard K/N'" });
    }
    const stamp = shardStamp(path, { shard: { index: shard.index, count: shard.count }, identity: shard.identity });
    const base = { path, ...stamp, samples: shard.samples };
    let facts: ReportFacts;
    try {
      facts = reportFacts(report as ReportResult);
    } catch (e) {
      throw new ShardError(`${path}: its report has no layers (a corrupt shard file)`, { action: 'run that shard again', cause: e });
    }
    model.push({ ...base, facts, counts: checkCounts(path, shard.counts) });
    (shard.compared ?? []).forEach((c, i) => (compared[i] ??= { model: c.model, shards: [] }).shards.push({ ...base, facts: c.facts, counts: checkCounts(path, c.counts) }));
  }
  return { model, compared };
}

/** A shard's report is a part for `pg report merge`: JSON only, and no gate on a part of the data. */
export function checkShardReportFlags(flags: { format: string; 'fail-if'?: string[]; limit?: number; 'skip-bad'?: boolean }, json: boolean): void {
  if (!json && flags.format !== 'json') {
    throw new UsageError(`--shard writes a part of a report for 'pg report merge': it needs --json (or --format json -o FILE), not --format ${flags.format}.`, {
      action: "Add --json and save stdout (> part-K.json), then render the merged report with 'pg report merge part-*.json --format ...'.",
    });
  }
  if (flags['fail-if']?.length) {
    throw new UsageError('--fail-if with --shard would gate on a part of the data.', { action: "Give --fail-if to 'pg report merge' instead." });
  }
  if (flags['skip-bad'] && flags.limit !== undefined) {
    // Unsharded, --limit N counts readable images; a shard cannot know how many the shards before it skipped.
    throw new UsageError('--shard with both --skip-bad and --limit: the shards could not cover the same images as one run.', {
      action: 'Leave out --limit (or --skip-bad) when sharding.',
    });
  }
}
