import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { buildModel } from '../../test/support/model-builder.js';
import { InvalidModelError } from '../errors/index.js';
import type { Model } from '../graph/index.js';
import { META } from '../gating/format.js';
import { isBuiltinImageSpec, PREPROCESS_KEYS, readPreprocessKey, resolvePreprocess, withPreprocess } from './model-preprocess.js';

const model = (metadata: Record<string, string>): Model => buildModel({ metadata, sourcePath: 'm.onnx' });

const recorded = model({ 'pg.preprocess.mean': '0.286', 'pg.preprocess.std': ' 0.353 ' });

describe('model preprocess metadata', () => {
  it('names the same keys as the gated-model format', () => {
    expect(PREPROCESS_KEYS).toEqual({ mean: META.mean, std: META.std });
  });

  it('recognises the built-in image specs only', () => {
    expect(['fashion-mnist:train', 'fashion-mnist:test?source=bundled', 'fashion-mnist'].map(isBuiltinImageSpec)).toEqual([true, true, true]);
    expect(['data.npz', 'x.npy', 'fashion-mnist-copy.npz'].map(isBuiltinImageSpec)).toEqual([false, false, false]);
  });

  it('defaults built-in data to the metadata, flags winning per key', () => {
    expect(resolvePreprocess(recorded, 'fashion-mnist:test', {})).toEqual({ mean: [0.286], std: [0.353], source: { mean: 'model', std: 'model' } });
    expect(resolvePreprocess(recorded, 'fashion-mnist:test', { mean: [0.5] })).toEqual({ mean: [0.5], std: [0.353], source: { mean: 'flag', std: 'model' } });
  });

  it('leaves array files as they are', () => {
    expect(resolvePreprocess(recorded, 'data.npz', {})).toEqual({ source: { mean: 'none', std: 'none' } });
  });

  it('normalises image files (a folder, a .csv/.tsv list) with the metadata too', () => {
    const fromModel = { mean: [0.286], std: [0.353], source: { mean: 'model', std: 'model' } };
    expect(resolvePreprocess(recorded, tmpdir(), {})).toEqual(fromModel);
    expect(resolvePreprocess(recorded, 'val/labels.csv', {})).toEqual(fromModel);
    expect(resolvePreprocess(recorded, 'val/labels.TSV', {})).toEqual(fromModel);
    expect(resolvePreprocess(recorded, 'no-such-folder', {})).toEqual({ source: { mean: 'none', std: 'none' } });
  });

  it('has nothing to say for a model without the keys', () => {
    expect(resolvePreprocess(model({}), 'fashion-mnist:test', {})).toEqual({ source: { mean: 'none', std: 'none' } });
  });

  it('rejects malformed metadata, but only when it would be used', () => {
    const bad = model({ 'pg.preprocess.mean': '0.2,abc', 'pg.preprocess.std': '0' });
    expect(() => readPreprocessKey(bad, 'mean')).toThrow(InvalidModelError);
    expect(() => readPreprocessKey(bad, 'std')).toThrow(/positive/);
    expect(resolvePreprocess(bad, 'fashion-mnist:test', { mean: [0.2], std: [0.3] }).source).toEqual({ mean: 'flag', std: 'flag' });
  });

  it('records values for later runs', () => {
    const m = withPreprocess(model({ other: 'x' }), { mean: [0.1, 0.2], std: [0.3, 0.4] });
    expect(m.metadata).toEqual({ other: 'x', 'pg.preprocess.mean': '0.1,0.2', 'pg.preprocess.std': '0.3,0.4' });
  });
});
