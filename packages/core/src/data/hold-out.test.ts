import { describe, expect, it } from 'vitest';
import { UsageError } from '../errors/index.js';
import { collectBatches, firstBatch, InMemoryDataset, type Dataset } from './dataset.js';
import { holdOut } from './hold-out.js';

const dataset = (n: number) =>
  new InMemoryDataset({
    name: 'ramp',
    size: n,
    sampleShape: [1],
    numClasses: 10,
    labels: Int32Array.from({ length: n }, (_, i) => i % 10),
    writeSample: (i, out, offset) => void (out[offset] = i),
  });
const samples = async (d: Dataset) => (await collectBatches(d.batches(1000))).flatMap((b) => Array.from(b.x));

describe('holdOut', () => {
  it('splits into disjoint parts covering every sample, the same for the same seed', async () => {
    const { train, heldOut } = holdOut(dataset(100), 0.1, 4);
    expect(heldOut.size).toBe(10);
    expect(train.size).toBe(90);
    const all = [...(await samples(train)), ...(await samples(heldOut))].sort((a, b) => a - b);
    expect(all).toEqual(Array.from({ length: 100 }, (_, i) => i));
    // Labels travel with their samples.
    const b = await firstBatch(heldOut.batches(10));
    expect(Array.from(b.y!)).toEqual(Array.from(b.x, (x) => x % 10));
    expect(await samples(holdOut(dataset(100), 0.1, 4).heldOut)).toEqual(await samples(heldOut));
    expect(await samples(holdOut(dataset(100), 0.1, 5).heldOut)).not.toEqual(await samples(heldOut));
  });
  it('refuses a split that leaves nothing to train on or to evaluate', () => {
    expect(() => holdOut(dataset(5), 0.01, 0)).toThrow(/no sample to evaluate on/);
    expect(() => holdOut(dataset(5), 0.95, 0)).toThrow(/no sample to train on/);
    expect(() => holdOut(dataset(5), 1, 0)).toThrow(UsageError);
  });
});
