import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { skipNote } from '../../test/support/skip.js';
import { FileAccessError, InvalidDataError, UsageError } from '../errors/index.js';
import { FASHION_MNIST_BUNDLED_DIR, locateFashionMnist, openFashionMnist } from './fashion-mnist.js';
import { readIdxFile } from './idx.js';
import { collectBatches, firstBatch } from './dataset.js';

const tmp = mkdtempSync(join(tmpdir(), 'pg-fmnist-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** An IDX uint8 file with the given dims and bytes, gzipped like the published files. */
function idxGz(dims: number[], bytes: Uint8Array): Buffer {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head[2] = 0x08;
  head[3] = dims.length;
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  return gzipSync(Buffer.concat([head, bytes]));
}

/** A fake PG_DATA_DIR with a 3-image test split: image i is filled with pixel value 100 * i + 5. */
function fakeDir(name: string, labels = [4, 0, 9]): string {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  const pixels = new Uint8Array(3 * 784);
  for (let i = 0; i < 3; i++) pixels.fill(100 * i + 5, i * 784, (i + 1) * 784);
  writeFileSync(join(dir, 't10k-images-idx3-ubyte.gz'), idxGz([3, 28, 28], pixels));
  writeFileSync(join(dir, 't10k-labels-idx1-ubyte.gz'), idxGz([labels.length], Uint8Array.from(labels)));
  return dir;
}

describe('fashion-mnist', () => {
  it('uses PG_DATA_DIR first, scaling pixels to [0, 1]', async () => {
    const dir = fakeDir('env');
    const ds = await openFashionMnist('test', { env: { PG_DATA_DIR: dir } });
    expect(ds.name).toBe(`fashion-mnist:test (3 of 10000, PG_DATA_DIR=${dir})`);
    expect([ds.size, ds.sampleShape, ds.numClasses, ds.hasLabels]).toEqual([3, [1, 28, 28], 10, true]);
    const b = await firstBatch(ds.batches(3));
    expect(b.shape).toEqual([3, 1, 28, 28]);
    expect([b.x[0], b.x[784], b.x[2 * 784 + 783]]).toEqual([5 / 255, 105 / 255, 205 / 255].map(Math.fround));
    expect(Array.from(b.y!)).toEqual([4, 0, 9]);
  });

  it('normalises with mean and std', async () => {
    const ds = await openFashionMnist('test', { env: { PG_DATA_DIR: fakeDir('norm') }, mean: [0.286], std: [0.353] });
    const b = await firstBatch(ds.batches(3));
    expect(b.x[0]).toBeCloseTo((5 / 255 - 0.286) / 0.353, 6);
    expect(b.x[784]).toBeCloseTo((105 / 255 - 0.286) / 0.353, 6);
    await expect(openFashionMnist('test', { env: { PG_DATA_DIR: fakeDir('norm2') }, std: [0] })).rejects.toThrow(UsageError);
    await expect(openFashionMnist('test', { env: { PG_DATA_DIR: fakeDir('norm3') }, mean: [0.1, 0.2, 0.3] })).rejects.toThrow(/--mean has 3 values but the data has 1 channel/);
  });

  it('does not fall back when PG_DATA_DIR lacks the files', () => {
    const dir = fakeDir('partial');
    expect(() => locateFashionMnist('train', { env: { PG_DATA_DIR: dir } })).toThrow(FileAccessError);
    expect(() => locateFashionMnist('train', { env: { PG_DATA_DIR: dir } })).toThrow(/train-images-idx3-ubyte\.gz.*PG_DATA_DIR points to a folder without them/);
  });

  it('rejects labels beyond 10 classes and mismatched counts, naming the file', async () => {
    await expect(openFashionMnist('test', { env: { PG_DATA_DIR: fakeDir('bad', [1, 12, 3]) } })).rejects.toThrow(/t10k-labels-idx1-ubyte\.gz has label 12 at index 1/);
    await expect(openFashionMnist('test', { env: { PG_DATA_DIR: fakeDir('short', [1, 2]) } })).rejects.toThrow(InvalidDataError);
  });

  it('falls back from the system folder to the bundled subset, and reports where it looked', () => {
    const env = {};
    const bundledDir = fakeDir('bundled');
    const found = locateFashionMnist('test', { env, systemDir: join(tmp, 'none'), bundledDir });
    expect(found.description).toBe('bundled subset');
    expect(() => locateFashionMnist('test', { env, systemDir: join(tmp, 'none'), bundledDir: join(tmp, 'none2') })).toThrow(/none or .*none2/);
    expect(() => locateFashionMnist('test', { env: { PG_DATA_SOURCE: 'cloud' } })).toThrow(UsageError);
    expect(locateFashionMnist('test', { env: { PG_DATA_SOURCE: 'bundled' }, bundledDir }).description).toBe('bundled subset');
  });

  const hasBundled = existsSync(join(FASHION_MNIST_BUNDLED_DIR, 't10k-labels-idx1-ubyte.gz'));
  it.skipIf(!hasBundled)(`reads the bundled test subset when forced${skipNote(hasBundled, `no bundled subset in ${FASHION_MNIST_BUNDLED_DIR}`)}`, async () => {
    const ds = await openFashionMnist('test', { source: 'bundled', env: { PG_DATA_DIR: '/elsewhere' }, mean: [0.286], std: [0.353] });
    expect(ds.name).toMatch(/^fashion-mnist:test \(\d+ of 10000, bundled subset\)$/);
    expect(ds.sampleShape).toEqual([1, 28, 28]);
    const raw = await readIdxFile(join(FASHION_MNIST_BUNDLED_DIR, 't10k-images-idx3-ubyte.gz'));
    const batches = await collectBatches(ds.batches(256));
    expect(batches.reduce((n, b) => n + b.shape[0], 0)).toBe(ds.size);
    expect(Array.from(batches[0].y!.subarray(0, 5))).toEqual([9, 2, 1, 1, 6]); // the first published test labels
    const i = 784 * 3 + 400;
    expect(batches[0].x[i]).toBeCloseTo((raw.data[i] / 255 - 0.286) / 0.353, 6);
  });
});
