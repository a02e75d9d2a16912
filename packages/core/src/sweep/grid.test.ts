import { describe, expect, it } from 'vitest';
import { UsageError } from '../errors/index.js';
import { gridPoints, pointId } from './grid.js';

describe('gridPoints', () => {
  it('keeps only hbits < bits, in the order given, and lists what it left out', () => {
    const { points, invalid } = gridPoints({ mode: ['pg'], bits: [4, 3], hbits: [3, 2], target_sparsity: [0.8, 0.9] });
    expect(points.map(pointId)).toEqual(['b4-h3-s0.8', 'b4-h3-s0.9', 'b4-h2-s0.8', 'b4-h2-s0.9', 'b3-h2-s0.8', 'b3-h2-s0.9']);
    expect(invalid).toEqual([{ bits: 3, hbits: 3 }]);
  });
  it('takes the modes as an axis: static gives one point per bits, without hbits or target', () => {
    const { points, invalid } = gridPoints({ mode: ['static', 'pg', 'seernet'], bits: [4, 2], hbits: [2], target_sparsity: [0.85] });
    expect(points.map(pointId)).toEqual(['static-b4', 'static-b2', 'b4-h2-s0.85', 'seernet-b4-h2-s0.85']);
    expect(points[0]).toEqual({ mode: 'static', bits: 4, hbits: null, target_sparsity: null });
    expect(invalid).toEqual([{ bits: 2, hbits: 2 }]);
    // A grid of static points needs no hbits or target; a sweep.json from before the axis is a pg grid.
    expect(gridPoints({ mode: ['static'], bits: [3], hbits: [], target_sparsity: [] }).points.map(pointId)).toEqual(['static-b3']);
    expect(gridPoints({ bits: [4], hbits: [2], target_sparsity: [0.8] }).points.map((p) => p.mode)).toEqual(['pg']);
    expect(() => gridPoints({ mode: ['pg'], bits: [4], hbits: [], target_sparsity: [0.8] })).toThrow(/--hbits/);
    expect(() => gridPoints({ mode: ['pg', 'pg'], bits: [4], hbits: [2], target_sparsity: [0.8] })).toThrow(/--mode lists a value twice/);
  });
  it('refuses a grid without a valid point, and repeated values', () => {
    expect(() => gridPoints({ bits: [2], hbits: [2, 3], target_sparsity: [0.5] })).toThrow(UsageError);
    expect(() => gridPoints({ bits: [4, 4], hbits: [2], target_sparsity: [0.5] })).toThrow(/twice/);
  });
});
