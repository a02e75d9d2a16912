import { checkShard, type ShardSpec } from '../io/index.js';
import type { FinetuneOptions } from '../train/index.js';
import type { SweepConfig } from './sweep-types.js';

/**
 * Which shard (1..count) runs each of `costs.length` items: the longest-processing-time rule, items taken by
 * descending cost (ties in list order) and each given to the shard with the least cost so far (ties to the
 * lower index). It reads only the costs and their order, so the same point list gives the same assignment in
 * every shard and in the merge, whatever axes the points have; equal costs go round-robin.
 */
export function assignShards(costs: readonly number[], count: number): number[] {
  checkShard({ index: 1, count });
  const load = new Array<number>(count).fill(0);
  const shardOf = new Array<number>(costs.length);
  const order = costs.map((_, i) => i).sort((a, b) => costs[b] - costs[a] || a - b);
  for (const i of order) {
    let best = 0;
    for (let s = 1; s < count; s++) if (load[s] < load[best]) best = s;
    load[best] += costs[i];
    shardOf[i] = best + 1;
  }
  return shardOf;
}

/** What a sweep point's cost estimate reads: the model's MACs per sample and the sizes of its passes. */
export interface SweepCostBasis {
  /** Forward MACs per sample of the float model's conv/linear layers. */
  macsPerSample: number;
  trainSamples: number;
  evalSamples: number;
  finetune: Pick<FinetuneOptions, 'epochs' | 'maxSteps' | 'batchSize'>;
}

/**
 * A point's estimated work in MACs: a training step costs about three forward passes (forward, and the
 * backward pass's two products), so 3 × the samples fine-tuning sees, plus one forward pass over the
 * evaluated samples. It depends on the point only through the fine-tuning it gets, so the points of one
 * grid cost the same today and their assignment is round-robin.
 */
export function pointCostEstimate(_point: SweepConfig, basis: SweepCostBasis): number {
  const { epochs, maxSteps, batchSize } = basis.finetune;
  const epochSteps = Math.ceil(basis.trainSamples / batchSize);
  const steps = Math.min(maxSteps ?? Infinity, epochs * epochSteps);
  return basis.macsPerSample * (3 * steps * batchSize + basis.evalSamples);
}

/** One shard of a sweep plan: its point ids (grid order) and their summed estimate. */
export interface SweepShardPlan {
  index: number;
  points: string[];
  estimate: number;
}

/** The shards of `points` (ids and estimated costs, grid order) split `count` ways by assignShards. */
export function planSweepShards(points: ReadonlyArray<{ id: string; estimate: number }>, count: number): SweepShardPlan[] {
  const shardOf = assignShards(
    points.map((p) => p.estimate),
    count,
  );
  const plans: SweepShardPlan[] = Array.from({ length: count }, (_, i) => ({ index: i + 1, points: [], estimate: 0 }));
  points.forEach((p, i) => {
    const plan = plans[shardOf[i] - 1];
    plan.points.push(p.id);
    plan.estimate += p.estimate;
  });
  return plans;
}

/** The ids of the points shard `s` runs. */
export function shardPoints(points: ReadonlyArray<{ id: string; estimate: number }>, s: ShardSpec): Set<string> {
  checkShard(s);
  return new Set(planSweepShards(points, s.count)[s.index - 1].points);
}
