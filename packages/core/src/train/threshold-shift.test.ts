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

describe('cutForSparsity on a tie, as the shifted thresholds apply it', () => {
  const f = Math.fround;
  /**
   * A channel whose threshold Δ and tied prediction O make float32 round Δ + (O − Δ) to just below O, so a
   * cut exactly at the tied margin would switch the whole tie on (found by search: about one pair in seven).
   */
  function roundingPair(): { delta: number; tied: number } {
    for (let i = 0; ; i++) {
      const delta = f(Math.sin(i) * 0.5);
      const tied = f(Math.cos(i * 1.3));
      if (f(delta + f(tied - delta)) < tied) return { delta, tied };
    }
  }

  it('keeps a tie that should be off off: the cut is the float32 midpoint above it', () => {
    const { delta, tied } = roundingPair();
    // 60 outputs tied at `tied` (a constant region), 40 spread above; the budget wants 45 on, so the tie goes off.
    const predictions = [...Array<number>(60).fill(tied), ...Array.from({ length: 40 }, (_, i) => f(tied + 0.01 * (i + 1)))];
    const margins = Float32Array.from(predictions, (o) => o - delta); // float32, as tf.sub computes them
    const cut = cutForSparsity(margins, 0.55);
    const threshold = f(delta + cut); // Δ + shift, stored as float32
    const on = predictions.filter((o) => o > threshold).length;
    expect(on).toBe(40);
    // Strictly between the tied margin and the next larger one, so it lands inside neither.
    const next = margins[60];
    expect(cut).toBeGreaterThan(margins[0]);
    expect(cut).toBeLessThan(next);
    expect(cut).toBe(f(margins[0] / 2 + next / 2));
  });

  it('steps above a tie that is the largest value', () => {
    const v = Float32Array.from([0, 1, 2, 2, 2]);
    const cut = cutForSparsity(v, 0.9);
    expect(cut).toBeGreaterThan(2);
    expect(onFraction([...v], cut)).toBe(0);
  });
});
