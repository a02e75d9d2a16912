export { paretoFrontier } from './pareto.js';
export { gridPoints, pointId } from './grid.js';
export { runSweep, frontiers, stopReason, sweepEstimates, sweepShardFile, SWEEP_FILE, type SweepOptions, type SweepHooks, type SweepEvent } from './run-sweep.js';
export { assignShards, planSweepShards, pointCostEstimate, type SweepCostBasis, type SweepShardPlan } from './shard.js';
export { mergeSweepShards, type MergedSweep } from './merge.js';
export type * from './sweep-types.js';
