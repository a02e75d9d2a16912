import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidDataError } from '../errors/index.js';
import { encodeNpy, type NpyArray } from './npy.js';
import { datasetFromArrays, openNpyDataset } from './npy-dataset.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'pg-npy-stream-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SAMPLE = [1, 28, 28];
const PER_SAMPLE = 28 * 28;

function samples(n: number, dtype: 'float32' | 'float64' = 'float32'): NpyArray {
  const data = dtype === 'float32' ? new Float32Array(n * PER_SAMPLE) : new Float64Array(n * PER_SAMPLE);
  for (let i = 0; i < data.length; i++) data[i] = Math.sin(i) * 3;
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
        const a = [...file.batches(8, opts)];
        const b = [...memory.batches(8, opts)];
        expect(a.length).toBe(b.length);
        a.forEach((batch, i) => {
          expect(batch.shape).toEqual(b[i].shape);
          expect(batch.y).toEqual(b[i].y);
          expect(batch.x).toEqual(b[i].x);
        });
      }
    }
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

  it('holds no more memory for 4N samples than for N: the data stays in the file', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    // Free what making the files allocated, and let V8 release the backing stores, before each reading.
    const settle = async (): Promise<number> => {
      for (let i = 0; i < 4; i++) {
        gc();
        await new Promise((r) => setImmediate(r));
      }
      return process.memoryUsage().arrayBuffers;
    };
    const files = new Map([4096, 16384].map((n) => [n, { x: write(`x-${n}.npy`, samples(n)), y: write(`y-${n}.npy`, labels(n)) }]));
    const held = async (n: number): Promise<{ open: number; peak: number; bytes: number }> => {
      const { x: path, y } = files.get(n)!;
      const before = await settle();
      const ds = await openNpyDataset(path, y);
      const open = (await settle()) - before;
      let peak = open;
      let count = 0;
      for (const batch of ds.batches(256, { shuffle: true, seed: 1 })) {
        count += batch.shape[0];
        if (count % 1024 === 0) {
          gc();
          peak = Math.max(peak, process.memoryUsage().arrayBuffers - before);
        }
      }
      expect(count).toBe(n);
      return { open, peak, bytes: n * PER_SAMPLE * 4 };
    };
    await settle();
    const small = await held(4096);
    const large = await held(16384);
    // The samples are 12 and 48 MiB; what is held is the labels (4 bytes a sample) and about one batch
    // (0.8 MiB). The bounds leave room for the few MiB by which this measurement wanders.
    const noise = 8 * 2 ** 20;
    expect(large.open - small.open).toBeLessThan(noise);
    expect(large.peak).toBeLessThan(large.bytes / 3);
    expect(large.peak - small.peak).toBeLessThan(noise);
    console.log(`npy streaming: ${(small.bytes / 2 ** 20).toFixed(0)} MiB of samples -> ${(small.peak / 2 ** 20).toFixed(2)} MiB held at peak; ${(large.bytes / 2 ** 20).toFixed(0)} MiB -> ${(large.peak / 2 ** 20).toFixed(2)} MiB`);
  });
});
