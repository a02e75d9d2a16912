import { describe, expect, it } from 'vitest';
import { gapThreshold, quantile } from './calibrate.js';

describe('gapThreshold', () => {
  it('moves a threshold off a repeated prediction into the gap above it', () => {
    // 60% of the predictions are one value a few float32 steps apart (a constant image region).
    const repeated = [1.0, Math.fround(1 + 2 ** -23), Math.fround(1 + 2 ** -22)];
    const values = Float32Array.from([...Array(60)].map((_, i) => repeated[i % 3]).concat([0.2, 0.4, 0.6, 0.8, 1.5, 2, 2.5, 3, 3.5, 4, ...Array(30).fill(0.1)]));
    const q = quantile(Float32Array.from(values).sort(), 0.85);
    expect(Math.abs(q - 1)).toBeLessThan(1e-6); // the plain quantile sits on the repeated value
    const t = gapThreshold(values, 0.85);
    expect(t).toBeCloseTo(1.25, 6); // halfway from the cluster to the next value, 1.5
    // Decisions on the sample: the cluster stays closed, everything above opens, as with the quantile.
    expect([...values].filter((v) => v > t).length).toBe([...values].filter((v) => v > Math.fround(1 + 2 ** -22)).length);
  });

  it('steps above the largest value when the quantile is the maximum', () => {
    const values = Float32Array.from([0, 1, 2, 2, 2, 2, 2, 2, 2, 2]);
    const t = gapThreshold(values, 0.9);
    expect(t).toBeGreaterThan(2);
    expect(t).toBeLessThan(2.01);
  });

  it('keeps a threshold that already lies in a clear gap', () => {
    const values = Float32Array.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(gapThreshold(values, 0.5)).toBeCloseTo(4.5, 6);
  });
});
