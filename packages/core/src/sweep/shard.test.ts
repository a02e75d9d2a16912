import { describe, expect, it } from 'vitest';
import { gridPoints, pointId } from './grid.js';
import { assignShards, planSweepShards, pointCostEstimate } from './shard.js';

describe('sweep shards', () => {
  it('assigns by longest processing time: equal costs round-robin, unequal ones balanced, every item once', () => {
    expect(assignShards([1, 1, 1, 1, 1], 2)).toEqual([1, 2, 1, 2, 1]);
    // 8 goes first to shard 1; 5 and 4 to shard 2 (9), 3 then to shard 1 (11)...
    expect(assignShards([3, 8, 4, 5], 2)).toEqual([1, 1, 2, 2]);
    expect(assignShards([2], 3)).toEqual([1]);
    expect(() => assignShards([1], 0)).toThrow(/K must be from 1 to N/);
  });

  it('splits a 24-point grid over the bundled data 4 ways within 1.2x of the mean, the same plan every time', () => {
    const { points } = gridPoints({ bits: [4, 3], hbits: [2, 1], target_sparsity: [0.5, 0.6, 0.7, 0.8, 0.9, 0.95] });
    expect(points).toHaveLength(24);
    const basis = { macsPerSample: 564_640, trainSamples: 2000, evalSamples: 1000, finetune: { epochs: 1, maxSteps: 200, batchSize: 64 } };
    const withCost = points.map((c) => ({ id: pointId(c), estimate: pointCostEstimate(c, basis) }));
    // min(200 steps, one epoch of 32 batches) x 64 samples x 3, plus 1000 evaluated, per MAC.
    expect(withCost[0].estimate).toBe(564_640 * (3 * 32 * 64 + 1000));
    const plan = planSweepShards(withCost, 4);
    expect(plan.map((s) => s.points.length)).toEqual([6, 6, 6, 6]);
    expect(new Set(plan.flatMap((s) => s.points))).toEqual(new Set(withCost.map((p) => p.id)));
    const mean = plan.reduce((a, s) => a + s.estimate, 0) / 4;
    expect(Math.max(...plan.map((s) => s.estimate)) / mean).toBeLessThanOrEqual(1.2);
    expect(planSweepShards(withCost, 4)).toEqual(plan);
  });
});
