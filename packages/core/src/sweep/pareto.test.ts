import { describe, expect, it } from 'vitest';
import { paretoFrontier } from './pareto.js';

describe('paretoFrontier', () => {
  const pts = [
    { c: 2.0, v: 0.9 },
    { c: 1.5, v: 0.85 },
    { c: 1.6, v: 0.84 }, // dominated by (1.5, 0.85)
    { c: 3.0, v: 0.9 }, // same value as (2.0, 0.9) at more cost: dominated
    { c: 3.5, v: 0.95 },
    { c: null, v: 0.99 }, // unknown cost: never on the frontier
  ];
  it('keeps exactly the non-dominated points, in ascending cost', () => {
    expect(
      paretoFrontier(
        pts,
        (p) => p.c,
        (p) => p.v,
      ),
    ).toEqual([1, 0, 4]);
  });
  it('keeps one of two identical points and handles empty input', () => {
    expect(
      paretoFrontier(
        [
          { c: 1, v: 1 },
          { c: 1, v: 1 },
        ],
        (p) => p.c,
        (p) => p.v,
      ),
    ).toHaveLength(1);
    expect(
      paretoFrontier(
        [],
        () => 0,
        () => 0,
      ),
    ).toEqual([]);
  });
});
