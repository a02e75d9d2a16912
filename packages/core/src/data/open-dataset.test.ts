import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import { afterAll, describe, expect, it } from 'vitest';
import { FileAccessError, InvalidDataError, UsageError } from '../errors/index.js';
import { InMemoryDataset, type Dataset } from './dataset.js';
import { FASHION_MNIST_BUNDLED_DIR } from './fashion-mnist.js';
import { encodeNpy } from './npy.js';
import { checkDatasetFits, openDataset } from './open-dataset.js';

const tmp = mkdtempSync(join(tmpdir(), 'pg-open-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const x = encodeNpy({ dtype: 'float32', shape: [2, 1, 2, 2], data: new Float32Array(8) });
const y = encodeNpy({ dtype: 'int32', shape: [2], data: Int32Array.from([1, 0]) });
writeFileSync(join(tmp, 'x.npy'), x);
writeFileSync(join(tmp, 'y.npy'), y);
writeFileSync(join(tmp, 'd.npz'), zipSync({ 'x.npy': x, 'y.npy': y }));

describe('openDataset', () => {
  it('opens .npy (+ labels) and .npz paths relative to baseDir', async () => {
    const npy = await openDataset('x.npy', { labels: 'y.npy', baseDir: tmp });
    expect([npy.size, npy.hasLabels, npy.sampleShape]).toEqual([2, true, [1, 2, 2]]);
    const npz = await openDataset('d.npz', { baseDir: tmp });
    expect(npz.name).toContain('d.npz');
    expect((await openDataset('x.npy', { baseDir: tmp })).hasLabels).toBe(false);
  });

  it('opens fashion-mnist specs, honouring ?source= over the environment', async () => {
    const env = { PG_DATA_DIR: join(tmp, 'nowhere') };
    await expect(openDataset('fashion-mnist:test', { env })).rejects.toThrow(/PG_DATA_DIR points to a folder without them/);
    if (existsSync(join(FASHION_MNIST_BUNDLED_DIR, 't10k-labels-idx1-ubyte.gz'))) {
      expect((await openDataset('fashion-mnist:test?source=bundled', { env })).name).toContain('bundled subset');
    } else {
      await expect(openDataset('fashion-mnist:test?source=bundled', { env })).rejects.toThrow(FileAccessError);
    }
  });

  it.each([
    ['', /not a known data set/],
    ['images/', /Accepted: fashion-mnist:train, fashion-mnist:test .*\.npz file/],
    ['mnist:test', /not a known data set/],
    ['fashion-mnist', /names no split/],
    ['fashion-mnist:val', /names no split/],
    ['fashion-mnist:test?source=cloud', /source in 'fashion-mnist:test\?source=cloud'.*cloud/],
    ['fashion-mnist:test?limit=3', /unknown option limit/],
  ])('rejects %j as a UsageError', async (spec, message) => {
    await expect(openDataset(spec)).rejects.toThrow(UsageError);
    await expect(openDataset(spec)).rejects.toThrow(message);
  });

  it('rejects flags that do not apply', async () => {
    await expect(openDataset('d.npz', { baseDir: tmp, image: { resize: 256, skipBad: true } })).rejects.toThrow(
      /--resize, --skip-bad apply only to image folders and \.csv\/\.tsv image lists, not to d\.npz/,
    );
    await expect(openDataset('fashion-mnist:test', { image: { crop: { height: 28, width: 28 } } })).rejects.toThrow(/--crop applies only to image folders/);
    // A folder is image data: --labels has no place there, the model's input shape is what it is read for.
    await expect(openDataset('.', { baseDir: tmp, labels: 'y.npy' })).rejects.toThrow(/--labels is only for \.npy data; \. gives its labels by class folder/);
    await expect(openDataset('d.npz', { baseDir: tmp, labels: 'y.npy' })).rejects.toThrow(/--labels is only for \.npy data/);
    await expect(openDataset('x.npy', { baseDir: tmp, mean: [0.5] })).rejects.toThrow(/--mean\/--std do not apply/);
    await expect(openDataset('fashion-mnist:test', { labels: 'y.npy' })).rejects.toThrow(UsageError);
  });

  it('reports a missing file as FileAccessError naming it', async () => {
    await expect(openDataset('missing.npz', { baseDir: tmp })).rejects.toThrow(FileAccessError);
    await expect(openDataset('x.npy', { baseDir: tmp, labels: 'nope.npy' })).rejects.toThrow(/nope\.npy: no such file/);
  });
});

describe('checkDatasetFits', () => {
  const ds = (labels?: number[], withArray = true): Dataset => {
    const inner = new InMemoryDataset({
      name: 'toy',
      size: 3,
      sampleShape: [1, 28, 28],
      labels: labels === undefined ? undefined : Int32Array.from(labels),
      writeSample: () => {},
    });
    if (withArray) return inner;
    // A data set that only exposes labels through its batches.
    return { name: inner.name, size: inner.size, sampleShape: inner.sampleShape, hasLabels: inner.hasLabels, batches: (n, o) => inner.batches(n, o) };
  };

  it('accepts matching and symbolic dims', () => {
    expect(() => checkDatasetFits(ds([0, 1, 9]), [1, 1, 28, 28], 10)).not.toThrow();
    expect(() => checkDatasetFits(ds([0, 1, 9]), ['N', 1, null, -1], 10)).not.toThrow();
    expect(() => checkDatasetFits(ds(), [1, 1, 28, 28], 10)).not.toThrow();
  });

  it('names both shapes when they differ', () => {
    expect(() => checkDatasetFits(ds(), ['batch', 3, 32, 32])).toThrow(InvalidDataError);
    expect(() => checkDatasetFits(ds(), ['batch', 3, 32, 32])).toThrow(/shape \[1, 28, 28\], but the model input \[batch, 3, 32, 32\] takes samples of shape \[3, 32, 32\]/);
    expect(() => checkDatasetFits(ds(), ['N', 784])).toThrow(/\[784\]/);
    expect(() => checkDatasetFits(ds(), [])).toThrow(InvalidDataError);
  });

  it('rejects a label the model cannot output, with or without a label array', () => {
    for (const withArray of [true, false]) {
      expect(() => checkDatasetFits(ds([0, 10, 3], withArray), [1, 1, 28, 28], 10)).toThrow(/label 10 at sample 1, but the model has 10 classes \(labels 0-9\)/);
    }
  });
});
