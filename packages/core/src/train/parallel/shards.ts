/**
 * The micro-shards of a batch: a step's loss is defined over a fixed number of shards (not over the
 * workers), so the same seed gives the same result whatever the worker count. Shard k holds rows
 * [start, end); sizes differ by at most one when the batch does not divide evenly.
 */
export interface Shard {
  index: number;
  start: number;
  end: number;
}

export function shardsOf(batch: number, shards: number): Shard[] {
  const k = Math.max(1, Math.min(shards, batch));
  return Array.from({ length: k }, (_, i) => ({ index: i, start: Math.floor((i * batch) / k), end: Math.floor(((i + 1) * batch) / k) }));
}

/** The shards worker `w` of `workers` computes: k ≡ w (mod workers). Worker 0 is the main thread. */
export function shardsOfWorker(all: Shard[], w: number, workers: number): Shard[] {
  return all.filter((s) => s.index % workers === w);
}
