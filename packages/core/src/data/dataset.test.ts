import { describe, expect, it } from 'vitest';
import { UsageError } from '../errors/index.js';
import { InMemoryDataset, type Batch } from './dataset.js';

/** 10 samples of shape [1, 2, 2]; sample i is filled with i, its label is i % 3. */
function toy(withLabels = true): InMemoryDataset {
  return new InMemoryDataset({
    name: 'toy',
    size: 10,
    sampleShape: [1, 2, 2],
    numClasses: 3,
    labels: withLabels ? Int32Array.from({ length: 10 }, (_, i) => i % 3) : undefined,
    writeSample: (i, out, offset) => out.fill(i, offset, offset + 4),
  });
}

const firstValues = (batches: Batch[]): number[] => batches.flatMap((b) => Array.from({ length: b.shape[0] }, (_, k) => b.x[k * 4]));

describe('InMemoryDataset.batches', () => {
  it('yields ordered batches with a smaller last one', () => {
    const batches = [...toy().batches(4)];
    expect(batches.map((b) => b.shape)).toEqual([
      [4, 1, 2, 2],
      [4, 1, 2, 2],
      [2, 1, 2, 2],
    ]);
    expect(batches.map((b) => b.x.length)).toEqual([16, 16, 8]);
    expect(firstValues(batches)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(Array.from(batches[2].y!)).toEqual([2, 0]);
    expect(Array.from(batches[2].x)).toEqual([8, 8, 8, 8, 9, 9, 9, 9]);
  });

  it('drops the last partial batch with dropLast and honours limit', () => {
    expect([...toy().batches(4, { dropLast: true })].map((b) => b.shape[0])).toEqual([4, 4]);
    expect([...toy().batches(4, { limit: 5 })].map((b) => b.shape[0])).toEqual([4, 1]);
    expect([...toy().batches(4, { limit: 50 })].map((b) => b.shape[0])).toEqual([4, 4, 2]);
  });

  it('shuffles by seed: same seed same order, every sample once, labels follow samples', () => {
    const ds = toy();
    const a = firstValues([...ds.batches(3, { shuffle: true, seed: 1 })]);
    expect(firstValues([...ds.batches(3, { shuffle: true, seed: 1 })])).toEqual(a);
    expect(firstValues([...ds.batches(3, { shuffle: true, seed: 2 })])).not.toEqual(a);
    expect([...a].sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    for (const b of ds.batches(3, { shuffle: true, seed: 1 })) {
      for (let k = 0; k < b.shape[0]; k++) expect(b.y![k]).toBe(b.x[k * 4] % 3);
    }
    // limit takes the first samples of the shuffled order, not of the file
    expect(firstValues([...ds.batches(3, { shuffle: true, seed: 1, limit: 4 })])).toEqual(a.slice(0, 4));
  });

  it('gives fresh arrays per batch and no y without labels', () => {
    const ds = toy(false);
    const [b0, b1] = [...ds.batches(5)];
    expect(b0.x).not.toBe(b1.x);
    expect(b0.y).toBeUndefined();
    expect(ds.hasLabels).toBe(false);
  });

  it('rejects bad batch sizes and limits when called, not when iterated', () => {
    expect(() => toy().batches(0)).toThrow(UsageError);
    expect(() => toy().batches(2.5)).toThrow(UsageError);
    expect(() => toy().batches(4, { limit: 0 })).toThrow(/limit/);
  });
});
