import { describe, expect, it } from 'vitest';
import { UsageError } from '../errors/index.js';
import { gridPoints, pointId } from './grid.js';

describe('gridPoints', () => {
  it('keeps only hbits < bits, in the order given, and lists what it left out', () => {
    const { points, invalid } = gridPoints({ bits: [4, 3], hbits: [3, 2], target_sparsity: [0.8, 0.9] });
    expect(points.map(pointId)).toEqual(['b4-h3-s0.8', 'b4-h3-s0.9', 'b4-h2-s0.8', 'b4-h2-s0.9', 'b3-h2-s0.8', 'b3-h2-s0.9']);
    expect(invalid).toEqual([{ bits: 3, hbits: 3 }]);
  });
  it('refuses a grid without a valid point, and repeated values', () => {
    expect(() => gridPoints({ bits: [2], hbits: [2, 3], target_sparsity: [0.5] })).toThrow(UsageError);
    expect(() => gridPoints({ bits: [4, 4], hbits: [2], target_sparsity: [0.5] })).toThrow(/twice/);
  });
});
