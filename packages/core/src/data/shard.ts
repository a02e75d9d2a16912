import { UsageError } from '../errors/index.js';
import { checkShard, shardLabel, type ShardSpec } from '../io/index.js';
import type { Dataset } from './dataset.js';
import { isSubsettable } from './hold-out.js';

/** The sample positions [first, end) of an evaluation pass that one shard covers. */
export interface SampleRange {
  first: number;
  end: number;
}

/**
 * The positions of the evaluated samples (the first `evaluated` of the data's order) that shard `s` covers:
 * whole batches of `batchSize`, the batches split as evenly as they go. Each shard then runs exactly the
 * batches the unsharded pass runs, so its counts are the unsharded pass's counts for those samples (a kernel
 * whose float result depended on the batch it ran in could not change a decision).
 */
export function shardRange(evaluated: number, batchSize: number, s: ShardSpec): SampleRange {
  checkShard(s);
  const batches = Math.ceil(evaluated / batchSize);
  if (s.count > batches) {
    throw new UsageError(`${s.count} shards of ${evaluated} samples in batches of ${batchSize}: only ${batches} batch(es) to share, so shard ${shardLabel(s)} would be empty`, {
      action: `use at most ${batches} shards, or a smaller --batch-size`,
    });
  }
  const at = (k: number) => Math.min(evaluated, Math.floor((k * batches) / s.count) * batchSize);
  return { first: at(s.index - 1), end: at(s.index) };
}

/** The samples at positions [first, end) of `data` (file order) as a data set of their own; nothing is copied. */
export function dataSlice(data: Dataset, range: SampleRange, label: string): Dataset {
  if (!isSubsettable(data)) {
    throw new UsageError(`${data.name} cannot be split into shards`, { action: 'evaluate it without --shard' });
  }
  const indices = new Uint32Array(range.end - range.first);
  for (let i = 0; i < indices.length; i++) indices[i] = range.first + i;
  return data.subset(indices, `${data.name}, samples ${range.first}-${range.end - 1} (${label})`);
}
