import { describe, expect, it } from 'vitest';
import { UsageError } from '../errors/index.js';
import type { PgLayer } from '../gating/index.js';
import { bestEvaluation } from './best-evaluation.js';
import { resolveTargetSparsity } from './target.js';

const layer = (bits: number, hbits: number | null) => ({ gated: hbits !== null, bits, hbits }) as PgLayer;

describe('resolveTargetSparsity', () => {
  it('turns a target B_avg into S = 1 - (B_avg - B_hb)/B_lb', () => {
    expect(resolveTargetSparsity([layer(4, 2), layer(4, 2)], { targetBavg: 2.3 })).toBeCloseTo(0.85, 12);
    expect(resolveTargetSparsity([layer(4, 2)], { targetBavg: 2 })).toBe(1);
    expect(resolveTargetSparsity([layer(4, 2)], { targetBavg: 4 })).toBe(0);
    expect(resolveTargetSparsity([layer(8, 3), layer(8, null)], { targetBavg: 4 })).toBeCloseTo(0.8, 12);
  });
  it('passes a target sparsity through, and none when neither is set', () => {
    expect(resolveTargetSparsity([layer(4, 2)], { targetSparsity: 0.85 })).toBe(0.85);
    expect(resolveTargetSparsity([layer(4, 2)], {})).toBeUndefined();
  });
  it('refuses a B_avg outside [B_hb, B], both targets at once, and mixed bitwidths', () => {
    expect(() => resolveTargetSparsity([layer(4, 2)], { targetBavg: 1.9 })).toThrow(/--target-bavg 1\.9 is outside \[2, 4\]/);
    expect(() => resolveTargetSparsity([layer(4, 2)], { targetBavg: 4.5 })).toThrow(UsageError);
    expect(() => resolveTargetSparsity([layer(4, 2)], { targetBavg: 3, targetSparsity: 0.5 })).toThrow(/give one of them/);
    expect(() => resolveTargetSparsity([layer(4, 2), layer(8, 4)], { targetBavg: 3 })).toThrow(/4\/2, 8\/4/);
  });
});

describe('bestEvaluation', () => {
  const e = (step: number, accuracy: number, sparsity: number, meets = true) => ({ step, accuracy, sparsity, bavg: null, meets_target: meets });
  it('takes the highest accuracy among those meeting the target, ties to the higher sparsity, then the earlier step', () => {
    expect(bestEvaluation([e(1, 0.8, 0.9), e(2, 0.9, 0.8, false), e(3, 0.85, 0.86)])?.step).toBe(3);
    expect(bestEvaluation([e(1, 0.85, 0.86), e(2, 0.85, 0.88), e(3, 0.85, 0.88)])?.step).toBe(2);
    expect(bestEvaluation([e(1, 0.9, 0.5, false)])).toBeUndefined();
  });
});
