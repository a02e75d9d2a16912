import { describe, expect, it } from 'vitest';
import type { PgLayer } from '../../gating/index.js';
import { DEFAULT_TARGET_SPARSITY, FINETUNE_DEFAULTS } from '../options.js';
import { planFinetune } from './plan.js';

const layers = [{ gated: true, bits: 4, hbits: 2 }] as PgLayer[];

describe('planFinetune: the defaults are the recipe', () => {
  it('with no option, aims at the default target, trains the weights and ends with the final calibration', () => {
    expect(planFinetune(layers, FINETUNE_DEFAULTS)).toEqual({
      target: DEFAULT_TARGET_SPARSITY,
      budget: 1 - DEFAULT_TARGET_SPARSITY,
      trainWeights: true,
      updateWeights: true,
      finalCalibration: true,
    });
  });
  it('a given target replaces the default, and the final calibration lands on it', () => {
    expect(planFinetune(layers, { ...FINETUNE_DEFAULTS, targetSparsity: 0.7 })).toMatchObject({ target: 0.7, finalCalibration: true });
    expect(planFinetune(layers, { ...FINETUNE_DEFAULTS, targetBavg: 2.4 }).target).toBeCloseTo(0.8, 12);
  });
  it("one flag each away: thresholds only (the paper's setting), no final calibration, no target", () => {
    expect(planFinetune(layers, { ...FINETUNE_DEFAULTS, trainWeights: false })).toMatchObject({ target: DEFAULT_TARGET_SPARSITY, trainWeights: false, updateWeights: false });
    expect(planFinetune(layers, { ...FINETUNE_DEFAULTS, finalCalibration: false })).toMatchObject({ target: DEFAULT_TARGET_SPARSITY, finalCalibration: false });
    expect(planFinetune(layers, { ...FINETUNE_DEFAULTS, targetSparsity: 'none' })).toMatchObject({ target: undefined, budget: undefined, finalCalibration: false });
  });
  it('a model without gated layers (pg convert --mode static) gets no default target: its weights train, nothing is calibrated', () => {
    const quantized = [{ gated: false, bits: 4, hbits: null }] as PgLayer[];
    expect(planFinetune(quantized, FINETUNE_DEFAULTS)).toEqual({ target: undefined, budget: undefined, trainWeights: true, updateWeights: true, finalCalibration: false });
  });
  it('refuses a final calibration without a target', () => {
    expect(() => planFinetune(layers, { ...FINETUNE_DEFAULTS, targetSparsity: 'none', finalCalibration: true })).toThrow(/--final-calibration needs a target/);
  });
});
