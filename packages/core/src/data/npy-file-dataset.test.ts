import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidDataError } from '../errors/index.js';
import { encodeNpy, type NpyArray } from './npy.js';
import { zipSync } from 'fflate';
import { collectBatches } from './dataset.js';
import { datasetFromArrays, openNpyDataset, openNpzDataset } from './npy-dataset.js';
import { holdOut } from './hold-out.js';
import { settledArrayBuffers } from '../../test/support/memory.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'pg-npy-stream-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SAMPLE = [1, 28, 28];
const PER_SAMPLE = 28 * 28;

function samples(n: number, dtype: 'float32' | 'float64' = 'float32'): NpyArray {
  const data = dtype === 'float32' ? new Float32Array(n * PER_SAMPLE) : new Float64Array(n * PER_SAMPLE);
  for (let i = 0; i < data.length; i++) data[i] = ((i * 7919) % 1009) / 100 - 5;
  return { dtype, shape: [n, ...SAMPLE], data } as NpyArray;
}

function labels(n: number): NpyArray {
  return { dtype: 'int64', shape: [n], data: BigInt64Array.from({ length: n }, (_, i) => BigInt(i % 10)) };
}

function write(name: string, a: NpyArray): string {
  const p = join(dir, name);
  writeFileSync(p, encodeNpy(a));
  return p;
}

describe('.npy data read from the file batch by batch', () => {
  it('gives the same batches as the arrays held in memory: in order, shuffled, float64, dropLast', async () => {
    for (const dtype of ['float32', 'float64'] as const) {
      const x = samples(37, dtype);
      const y = labels(37);
      const file = await openNpyDataset(write(`x-${dtype}.npy`, x), write('y.npy', y));
      const memory = datasetFromArrays(x, y, { x: 'x', y: 'y', name: 'x' });
      expect(file.size).toBe(37);
      expect(file.sampleShape).toEqual(SAMPLE);
      for (const opts of [{}, { shuffle: true, seed: 3 }, { shuffle: true, seed: 4, dropLast: true, limit: 30 }]) {
        const a = await collectBatches(file.batches(8, opts));
        const b = await collectBatches(memory.batches(8, opts));
        expect(a.length).toBe(b.length);
        a.forEach((batch, i) => {
          expect(batch.shape).toEqual(b[i].shape);
          expect(batch.y).toEqual(b[i].y);
          expect(batch.x).toEqual(b[i].x);
        });
      }
    }
  });

  it('splits off the same hold-out as the arrays in memory (--eval-split on .npy data), subsets of subsets too', async () => {
    const x = samples(40);
    const y = labels(40);
    const file = await openNpyDataset(write('x-split.npy', x), write('y-split.npy', y));
    const memory = datasetFromArrays(x, y, { x: 'x', y: 'y', name: 'x' });
    const a = holdOut(file, 0.25, 9);
    const b = holdOut(memory, 0.25, 9);
    const nested = [holdOut(a.train, 0.5, 1), holdOut(b.train, 0.5, 1)];
    for (const [p, q] of [
      [a.train, b.train],
      [a.heldOut, b.heldOut],
      [nested[0].heldOut, nested[1].heldOut],
    ] as const) {
      expect(p.size).toBe(q.size);
      const [pb] = await collectBatches(p.batches(64, { shuffle: true, seed: 2 }));
      const [qb] = await collectBatches(q.batches(64, { shuffle: true, seed: 2 }));
      expect(pb.y).toEqual(qb.y);
      expect(pb.x).toEqual(qb.x);
    }
    expect(a.heldOut.size).toBe(10);
  });

  it('reads an .npz of stored arrays (np.savez) from the file the same way; a compressed one from memory', async () => {
    const x = samples(21, 'float64');
    const y = labels(21);
    const memory = datasetFromArrays(x, y, { x: 'x', y: 'y', name: 'x' });
    for (const [name, level] of [
      ['stored.npz', 0],
      ['deflated.npz', 6],
    ] as const) {
      const p = join(dir, name);
      writeFileSync(p, zipSync({ 'x.npy': encodeNpy(x), 'y.npy': encodeNpy(y) }, { level }));
      const ds = await openNpzDataset(p);
      expect(ds.constructor.name, name).toBe(level === 0 ? 'NpyFileDataset' : 'InMemoryDataset');
      const a = await collectBatches(ds.batches(5, { shuffle: true, seed: 9 }));
      const b = await collectBatches(memory.batches(5, { shuffle: true, seed: 9 }));
      expect(
        a.map((t) => [t.shape, t.y, t.x]),
        name,
      ).toEqual(b.map((t) => [t.shape, t.y, t.x]));
    }
    // Faults inside a stored entry are named by file and array.
    const bad = samples(2);
    bad.data[3] = Infinity;
    const p = join(dir, 'inf.npz');
    writeFileSync(p, zipSync({ 'x.npy': encodeNpy(bad) }, { level: 0 }));
    await expect(openNpzDataset(p)).rejects.toThrow(/inf\.npz:x contains Infinity in sample 0/);
  });

  it('still checks every sample up front: a NaN is found, with its sample index, before any batch', async () => {
    const x = samples(3000);
    x.data[2500 * PER_SAMPLE + 7] = NaN;
    const err = await openNpyDataset(write('nan.npy', x)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidDataError);
    expect((err as Error).message).toMatch(/nan\.npy contains NaN in sample 2500/);
  });

  it('a truncated file fails when opened, naming the bytes it lacks', async () => {
    const bytes = encodeNpy(samples(4));
    const p = join(dir, 'short.npy');
    writeFileSync(p, bytes.subarray(0, bytes.length - 100));
    await expect(openNpyDataset(p)).rejects.toThrow(/short\.npy is not a readable \.npy file: truncated data/);
  });

  it('holds no more memory for 4N samples than for N (.npy, stored .npz): the data stays in the file', async () => {
    // Free what making the files allocated before each reading.
    const settle = settledArrayBuffers;
    const files = new Map(
      [4096, 16384].map((n) => {
        const npz = join(dir, `xy-${n}.npz`);
        const [x, y] = [encodeNpy(samples(n)), encodeNpy(labels(n))];
        writeFileSync(npz, zipSync({ 'x.npy': x, 'y.npy': y }, { level: 0 }));
        writeFileSync(join(dir, `x-${n}.npy`), x);
        writeFileSync(join(dir, `y-${n}.npy`), y);
        return [n, { x: join(dir, `x-${n}.npy`), y: join(dir, `y-${n}.npy`), npz }];
      }),
    );
    const held = async (n: number, format: 'npy' | 'npz'): Promise<{ open: number; peak: number; bytes: number }> => {
      const { x: path, y, npz } = files.get(n)!;
      const before = await settle();
      const ds = format === 'npy' ? await openNpyDataset(path, y) : await openNpzDataset(npz);
      const open = (await settle()) - before;
      let peak = open;
      let count = 0;
      // Measured with the current batch alive, as a consumer holds it.
      for await (const batch of ds.batches(256, { shuffle: true, seed: 1 })) {
        count += batch.shape[0];
        if (count % 4096 === 0) peak = Math.max(peak, (await settle()) - before);
      }
      expect(count).toBe(n);
      return { open, peak, bytes: n * PER_SAMPLE * 4 };
    };
    await settle();
    for (const format of ['npy', 'npz'] as const) {
      const small = await held(4096, format);
      const large = await held(16384, format);
      // The samples are 12 and 48 MiB; what is held is the labels (4 bytes a sample) and about one batch
      // (0.8 MiB). The bounds leave room for the few MiB by which this measurement wanders.
      const noise = 8 * 2 ** 20;
      expect(large.open - small.open, format).toBeLessThan(noise);
      expect(large.peak, format).toBeLessThan(large.bytes / 3);
      expect(large.peak - small.peak, format).toBeLessThan(noise);
      console.log(
        `${format} streaming: ${(small.bytes / 2 ** 20).toFixed(0)} MiB of samples -> ${(small.peak / 2 ** 20).toFixed(2)} MiB held at peak; ${(large.bytes / 2 ** 20).toFixed(0)} MiB -> ${(large.peak / 2 ** 20).toFixed(2)} MiB`,
      );
    }
  });
});
