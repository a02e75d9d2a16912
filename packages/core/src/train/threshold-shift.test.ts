import { describe, expect, it } from 'vitest';
import { cutForSparsity } from './threshold-shift.js';

const onFraction = (v: number[], t: number) => v.filter((x) => x > t).length / v.length;

describe('cutForSparsity', () => {
  it('cuts at the S-quantile of distinct values', () => {
    const v = Array.from({ length: 100 }, (_, i) => i);
    expect(onFraction(v, cutForSparsity(Float32Array.from(v), 0.85))).toBeCloseTo(0.15, 12);
  });
  it('puts a large tie on the side that lands closer to the target', () => {
    // 60% of the values tie at 0 (inputs truncated to 0 predict the bias), 40% spread above.
    const v = [...Array<number>(60).fill(0), ...Array.from({ length: 40 }, (_, i) => i + 1)];
    // S = 0.5: the tie off gives 0.4 on, on gives 1.0: off.
    expect(onFraction(v, cutForSparsity(Float32Array.from(v), 0.5))).toBeCloseTo(0.4, 12);
    // S = 0.2, one value below the tie: off gives 0.4 on, on gives 0.99 (closer to the wanted 0.8): on, the cut
    // halfway between -1 and the tie.
    const w = [-1, ...v.slice(1)];
    expect(cutForSparsity(Float32Array.from(w), 0.2)).toBe(-0.5);
    expect(onFraction(w, cutForSparsity(Float32Array.from(w), 0.2))).toBeCloseTo(0.99, 12);
  });
});
