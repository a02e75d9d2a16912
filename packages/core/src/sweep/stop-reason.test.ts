import { describe, expect, it } from 'vitest';
import { stopReason } from './run-sweep.js';

describe('stopReason (the sweep time budget)', () => {
  it('starts the first point whenever budget remains, none with a zero budget', () => {
    expect(stopReason(0, 10, [], 1000)).toBeNull();
    expect(stopReason(0, 0, [], 0)).toBe('time-budget');
    expect(stopReason(0, 10, [], undefined)).toBeNull();
  });
  it('does not start a point expected to end after the budget (mean of the points so far)', () => {
    // 400 ms used, points took 300 and 500 ms: the next ends at about 800 ms.
    expect(stopReason(0, 400, [300, 500], 900)).toBeNull();
    expect(stopReason(0, 400, [300, 500], 800)).toBe('time-budget');
  });
  it('stops after an interrupt, budget or not', () => {
    const c = new AbortController();
    c.abort();
    expect(stopReason(0, 0, [], undefined, c.signal)).toBe('interrupted');
  });
});
