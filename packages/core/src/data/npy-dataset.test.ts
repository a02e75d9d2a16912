import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import { afterAll, describe, expect, it } from 'vitest';
import { InvalidDataError } from '../errors/index.js';
import { encodeNpy, type NpyArray } from './npy.js';
import { collectBatches, firstBatch } from './dataset.js';
import { datasetFromArrays, openNpyDataset, openNpzDataset } from './npy-dataset.js';

const tmp = mkdtempSync(join(tmpdir(), 'pg-npyds-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const images = (n: number, dtype: 'float32' | 'float64' = 'float32'): NpyArray => {
  const values = Array.from({ length: n * 2 * 3 * 3 }, (_, i) => i - 5.5);
  return dtype === 'float32' ? { dtype, shape: [n, 2, 3, 3], data: Float32Array.from(values) } : { dtype, shape: [n, 2, 3, 3], data: Float64Array.from(values) };
};
const labels = (values: number[]): NpyArray => ({ dtype: 'int64', shape: [values.length], data: BigInt64Array.from(values.map(BigInt)) });
const where = { x: 'x.npy', y: 'y.npy', name: 'x.npy' };

describe('array data sets', () => {
  it('opens x.npy + y.npy as they are, without normalisation', async () => {
    writeFileSync(join(tmp, 'x.npy'), encodeNpy(images(5)));
    writeFileSync(join(tmp, 'y.npy'), encodeNpy(labels([0, 1, 2, 3, 4])));
    const ds = await openNpyDataset(join(tmp, 'x.npy'), join(tmp, 'y.npy'));
    expect([ds.size, ds.sampleShape, ds.hasLabels]).toEqual([5, [2, 3, 3], true]);
    expect(ds.name).toContain('5 samples');
    const [b0, b1] = await collectBatches(ds.batches(3));
    expect(b0.shape).toEqual([3, 2, 3, 3]);
    expect(Array.from(b0.x.subarray(0, 3))).toEqual([-5.5, -4.5, -3.5]);
    expect(Array.from(b1.y!)).toEqual([3, 4]);
  });

  it('opens an .npz with float64 x (converted) and uint8 y, or without y', async () => {
    const zip = zipSync({ 'x.npy': encodeNpy(images(2, 'float64')), 'y.npy': encodeNpy({ dtype: 'uint8', shape: [2], data: Uint8Array.from([7, 9]) }) });
    writeFileSync(join(tmp, 'd.npz'), zip);
    const ds = await openNpzDataset(join(tmp, 'd.npz'));
    const [b] = await collectBatches(ds.batches(8));
    expect(b.x).toBeInstanceOf(Float32Array);
    expect([b.x[0], b.x[35], Array.from(b.y!)]).toEqual([-5.5, 29.5, [7, 9]]);

    writeFileSync(join(tmp, 'nolabels.npz'), zipSync({ 'x.npy': encodeNpy(images(2)) }));
    const unlabelled = await openNpzDataset(join(tmp, 'nolabels.npz'));
    expect(unlabelled.hasLabels).toBe(false);
    expect((await firstBatch(unlabelled.batches(2))).y).toBeUndefined();

    writeFileSync(join(tmp, 'nox.npz'), zipSync({ 'images.npy': encodeNpy(images(2)) }));
    await expect(openNpzDataset(join(tmp, 'nox.npz'))).rejects.toThrow(/nox\.npz has no array named x \(it holds images\)/);
  });

  it.each([
    [
      'a 5-D x',
      { dtype: 'float32', shape: [1, 1, 1, 2, 2], data: new Float32Array(4) },
      undefined,
      /x\.npy has rank 5 \(shape \(1, 1, 1, 2, 2\)\); samples must be N×C×H×W images, N×T×F sequences/,
    ],
    [
      'an integer x',
      { dtype: 'uint8', shape: [1, 1, 2, 2], data: new Uint8Array(4) },
      undefined,
      /x\.npy has dtype uint8; samples must be float32 \(or float64\), or N×T integer token ids/,
    ],
    [
      '2-D labels of token ids that do not match their steps',
      { dtype: 'int32', shape: [2, 5], data: new Int32Array(10) },
      { dtype: 'int32', shape: [2, 4], data: new Int32Array(8) },
      /labels must be 1-D, one class index per sample, or \(2, 5\): the next token of every step/,
    ],
    ['an empty x', { dtype: 'float32', shape: [0, 1, 2, 2], data: new Float32Array(0) }, undefined, /x\.npy is empty/],
    ['a NaN in x', { dtype: 'float32', shape: [2, 1, 1, 2], data: Float32Array.from([0, 1, 2, NaN]) }, undefined, /contains NaN in sample 1/],
    ['float labels', images(2), { dtype: 'float32', shape: [2], data: new Float32Array(2) }, /y\.npy has dtype float32; labels must be integers/],
    ['2-D labels', images(2), { dtype: 'int32', shape: [2, 10], data: new Int32Array(20) }, /y\.npy has shape \(2, 10\); labels must be 1-D/],
    ['too few labels', images(3), labels([1, 2]), /y\.npy has 2 labels but x\.npy has 3 samples/],
    ['a negative label', images(2), labels([0, -1]), /y\.npy has label -1 at index 1/],
  ] as [string, NpyArray, NpyArray | undefined, RegExp][])('rejects %s', (_, x, y, message) => {
    expect(() => datasetFromArrays(x, y, where)).toThrow(InvalidDataError);
    expect(() => datasetFromArrays(x, y, where)).toThrow(message);
  });

  it('reads sequences: N×T×F floats with class labels, N×T token ids with a next token per step', async () => {
    const seq = datasetFromArrays({ dtype: 'float32', shape: [3, 4, 2], data: Float32Array.from({ length: 24 }, (_, i) => i) }, labels([2, 0, 1]), where);
    expect([seq.sampleShape, seq.labelShape, Array.from((await collectBatches(seq.batches(2)))[1].y!)]).toEqual([[4, 2], undefined, [1]]);
    const ids: NpyArray = { dtype: 'int64', shape: [3, 4], data: BigInt64Array.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11].map(BigInt)) };
    const next: NpyArray = { dtype: 'int32', shape: [3, 4], data: Int32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]) };
    writeFileSync(join(tmp, 'tokens.npz'), zipSync({ 'x.npy': encodeNpy(ids), 'y.npy': encodeNpy(next) }));
    const lm = await openNpzDataset(join(tmp, 'tokens.npz'));
    expect([lm.sampleShape, lm.labelShape]).toEqual([[4], [4]]);
    const [b0, b1] = await collectBatches(lm.batches(2, { shuffle: true, seed: 3 }));
    // Each sample's ids (as floats) come with its own four next tokens, in the shuffled order.
    for (const b of [b0, b1]) {
      for (let k = 0; k < b.shape[0]; k++) expect(Array.from(b.y!.subarray(4 * k, 4 * k + 4))).toEqual(Array.from(b.x.subarray(4 * k, 4 * k + 4), (v) => v + 1));
    }
    const held = (lm as unknown as { subset(i: Uint32Array, n: string): typeof lm }).subset(Uint32Array.from([2]), 'last');
    expect(Array.from((await firstBatch(held.batches(4))).y!)).toEqual([9, 10, 11, 12]);
  });
});
