import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileAccessError, InvalidDataError } from '../errors/index.js';
import { readModel } from '../onnx/index.js';
import { runModel } from '../engines/index.js';
import { settledArrayBuffers } from '../../test/support/memory.js';
import { hasPhotos, makePhotoFolder, PHOTO_LAYOUT, PHOTOS_DIR, photoFolderOrder, photosSkipNote } from '../../test/support/photos.js';
import { collectBatches as collect, type Batch } from './dataset.js';
import { holdOut } from './hold-out.js';
import { openImageDataset, type ImageDataset } from './image-dataset.js';
import type { ImageGeometry } from './image-geometry.js';
import { openDataset } from './open-dataset.js';
import { shuffledIndices } from './random.js';

const tmp = mkdtempSync(join(tmpdir(), 'pg-images-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const RGB8: ImageGeometry = { channels: 3, height: 8, width: 8, resize: 8 };

/** Writes a solid-colour image (PNG, or JPEG by extension) of `channels` 1 (grey), 3 (RGB) or 4 (RGBA). */
async function solid(path: string, colour: number[], size = 12): Promise<string> {
  mkdirSync(join(path, '..'), { recursive: true });
  const raw = new Uint8Array(size * size * colour.length);
  for (let i = 0; i < raw.length; i++) raw[i] = colour[i % colour.length];
  const image = sharp(raw, { raw: { width: size, height: size, channels: colour.length as 1 | 3 | 4 } });
  await (path.endsWith('.jpg') ? image.jpeg({ quality: 100 }) : image.png()).toFile(path);
  return path;
}

/** The first value of each sample's first channel: enough to tell solid images apart. */
const firstValues = (batches: Batch[]): number[] => batches.flatMap((b) => Array.from({ length: b.shape[0] }, (_, i) => b.x[(i * b.x.length) / b.shape[0]]));

/** A class folder of solid images: class 'a' grey levels 10, 20, ..., class 'b' 110, 120, ... */
async function levelsFolder(name: string, perClass: number): Promise<string> {
  const root = join(tmp, name);
  for (let i = 0; i < perClass; i++) {
    await solid(join(root, 'a', `${String(i).padStart(3, '0')}.png`), [10 + 10 * i]);
    await solid(join(root, 'b', `${String(i).padStart(3, '0')}.png`), [110 + 10 * i]);
  }
  return root;
}

describe('image folders: decoding and batches', () => {
  let levels: string;
  beforeAll(async () => {
    levels = await levelsFolder('levels', 5);
  });

  it('reads the class-folder layout: labels from sorted folder names, pixels scaled to [0, 1] and normalised', async () => {
    const ds = await openImageDataset(levels, { geometry: RGB8, mean: [0.5], std: [0.25] });
    expect([ds.size, ds.numClasses, ds.sampleShape, ds.classes]).toEqual([10, 2, [3, 8, 8], ['a', 'b']]);
    expect(ds.name).toBe(`${levels} (10 images, 2 class folders; RGB, short side resized to 8, centre crop 8×8)`);
    const batches = await collect(ds.batches(4));
    expect(batches.map((b) => b.shape)).toEqual([
      [4, 3, 8, 8],
      [4, 3, 8, 8],
      [2, 3, 8, 8],
    ]);
    expect(batches.flatMap((b) => Array.from(b.y!))).toEqual([0, 0, 0, 0, 0, 1, 1, 1, 1, 1]);
    const expected = [10, 20, 30, 40, 50, 110, 120, 130, 140, 150].map((v) => Math.fround((v / 255 - 0.5) / 0.25));
    expect(firstValues(batches)).toEqual(expected);
    // Every value of a solid grey image is the same in all three channels.
    expect(new Set(batches[0].x.subarray(0, 3 * 64)).size).toBe(1);
  });

  it("reads a CSV of path,label through openDataset, paths from the list's folder", async () => {
    writeFileSync(join(levels, 'list.csv'), 'file,label\nb/000.png,1\na/004.png,0\n');
    const ds = await openDataset(join(levels, 'list.csv'), { image: { inputShape: ['N', 1, 8, 8] } });
    const [batch] = await collect(ds.batches(8));
    expect(Array.from(batch.y!)).toEqual([1, 0]);
    expect(firstValues([batch])).toEqual([110, 50].map((v) => Math.fround(v / 255)));
    expect(ds.sampleShape).toEqual([1, 8, 8]);
  });

  it("converts grey to RGB and RGB to grey (PIL's luma weights), and drops alpha without compositing", async () => {
    const red = await solid(join(tmp, 'colours', 'red.png'), [255, 0, 0]);
    const grey = await solid(join(tmp, 'colours', 'grey.png'), [100]);
    const clear = await solid(join(tmp, 'colours', 'clear.png'), [10, 200, 30, 0]);
    writeFileSync(join(tmp, 'colours', 'list.csv'), 'red.png,0\ngrey.png,0\nclear.png,0\n');
    const plane = (b: Batch, sample: number, channel: number): number[] => {
      const [, c, h, w] = b.shape;
      return [...new Set(b.x.subarray((sample * c + channel) * h * w, (sample * c + channel + 1) * h * w))].map((v) => Math.round(v * 255));
    };
    const [rgb] = await collect((await openDataset(join(tmp, 'colours', 'list.csv'), { image: { inputShape: ['N', 3, 8, 8] } })).batches(3));
    expect([0, 1, 2].map((c) => plane(rgb, 0, c))).toEqual([[255], [0], [0]]);
    expect([0, 1, 2].map((c) => plane(rgb, 1, c))).toEqual([[100], [100], [100]]);
    expect([0, 1, 2].map((c) => plane(rgb, 2, c))).toEqual([[10], [200], [30]]);
    const [grey1] = await collect((await openDataset(join(tmp, 'colours', 'list.csv'), { image: { inputShape: ['N', 1, 8, 8] } })).batches(3));
    // (255·19595 + 0x8000) >> 16 = 76; (10·19595 + 200·38470 + 30·7471 + 0x8000) >> 16 = 124.
    expect([plane(grey1, 0, 0), plane(grey1, 1, 0), plane(grey1, 2, 0)]).toEqual([[76], [100], [124]]);
    expect([red, grey, clear].length).toBe(3);
  });

  it('shuffles with the seed as the other sources do: same seed, same batches; the order is shuffledIndices', async () => {
    const ds = await openImageDataset(levels, { geometry: RGB8 });
    const pass = async (seed: number) => collect(ds.batches(3, { shuffle: true, seed }));
    const [a, b, c] = [await pass(7), await pass(7), await pass(8)];
    expect(a.map((x) => Array.from(x.x))).toEqual(b.map((x) => Array.from(x.x)));
    expect(firstValues(a)).not.toEqual(firstValues(c));
    const levelsInOrder = [10, 20, 30, 40, 50, 110, 120, 130, 140, 150];
    expect(firstValues(a)).toEqual(Array.from(shuffledIndices(10, 7), (i) => Math.fround(levelsInOrder[i] / 255)));
    expect(a.flatMap((x) => Array.from(x.y!))).toEqual(Array.from(shuffledIndices(10, 7), (i) => (i < 5 ? 0 : 1)));
    // --limit takes the first N of that order; dropLast drops the short batch.
    expect(firstValues(await collect(ds.batches(3, { shuffle: true, seed: 7, limit: 4 })))).toEqual(firstValues(a).slice(0, 4));
    expect((await collect(ds.batches(3, { dropLast: true }))).map((x) => x.shape[0])).toEqual([3, 3, 3]);
  });

  it('splits into a hold-out that reads the same files', async () => {
    const ds = await openImageDataset(levels, { geometry: RGB8 });
    const { train, heldOut } = holdOut(ds, 0.2, 1);
    expect([train.size, heldOut.size]).toEqual([8, 2]);
    const all = firstValues(await collect(ds.batches(10)));
    const parts = [...firstValues(await collect(train.batches(10))), ...firstValues(await collect(heldOut.batches(10)))];
    expect(parts.sort()).toEqual([...all].sort());
    expect((heldOut as ImageDataset).skipped).toBe(ds.skipped);
  });
});

describe('image folders: bad files', () => {
  let root: string;
  beforeAll(async () => {
    root = await levelsFolder('bad', 3);
    writeFileSync(join(root, 'a', '001.png'), readFileSync(join(root, 'a', '000.png')).subarray(0, 40)); // truncated
    writeFileSync(join(root, 'b', '001.png'), 'not an image');
  });

  it('stops at the first corrupt image with an error naming the file', async () => {
    const ds = await openImageDataset(root, { geometry: RGB8 });
    const err = await collect(ds.batches(2)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidDataError);
    expect((err as InvalidDataError).code).toBe('PG_INVALID_DATA');
    expect((err as InvalidDataError).exitCode).toBe(5);
    expect((err as Error).message).toContain(`Cannot decode image ${join(root, 'a', '001.png')}:`);
    expect((err as InvalidDataError).action).toMatch(/--skip-bad/);
  });

  it('with skipBad, skips them, records which and why, and keeps batches full; --limit counts images used', async () => {
    const ds = await openImageDataset(root, { geometry: RGB8, skipBad: true });
    const batches = await collect(ds.batches(2));
    expect(batches.map((b) => b.shape[0])).toEqual([2, 2]);
    expect(firstValues(batches)).toEqual([10, 30, 110, 130].map((v) => Math.fround(v / 255)));
    expect(batches.flatMap((b) => Array.from(b.y!))).toEqual([0, 0, 1, 1]);
    expect([...ds.skipped.keys()]).toEqual([join(root, 'a', '001.png'), join(root, 'b', '001.png')]);
    expect(ds.skipped.get(join(root, 'b', '001.png'))).toMatch(/unsupported image format/);
    expect(firstValues(await collect(ds.batches(2, { limit: 3 })))).toEqual([10, 30, 110].map((v) => Math.fround(v / 255)));
    // A second pass finds the same files: the record holds each once.
    expect(ds.skipped.size).toBe(2);
  });

  it('a listed file that does not exist is a FileAccessError naming it, or skipped', async () => {
    writeFileSync(join(root, 'list.csv'), 'a/000.png,0\na/missing.png,0\n');
    const strict = await openDataset(join(root, 'list.csv'), { image: { inputShape: ['N', 3, 8, 8] } });
    await expect(collect(strict.batches(2))).rejects.toThrow(FileAccessError);
    await expect(collect(strict.batches(2))).rejects.toThrow(`Cannot read data file ${join(root, 'a/missing.png')}: no such file`);
    const lenient = await openDataset(join(root, 'list.csv'), { image: { inputShape: ['N', 3, 8, 8], skipBad: true } });
    expect((await collect(lenient.batches(2))).map((b) => b.shape[0])).toEqual([1]);
    expect(lenient.skipped?.size).toBe(1);
  });
});

describe('image folders: memory', () => {
  it('holds about two batches, not the folder: 4x the images hold no more memory', async () => {
    const settle = settledArrayBuffers;
    const geometry: ImageGeometry = { channels: 3, height: 64, width: 64, resize: 64 };
    const one = await solid(join(tmp, 'memory-src.png'), [90, 60, 30], 64);
    const folder = (n: number): string => {
      const root = join(tmp, `memory-${n}`);
      mkdirSync(join(root, 'c'), { recursive: true });
      for (let i = 0; i < n; i++) copyFileSync(one, join(root, 'c', `${i}.png`));
      return root;
    };
    const peak = async (n: number): Promise<{ peak: number; bytes: number }> => {
      const root = folder(n);
      const before = await settle();
      const ds = await openImageDataset(root, { geometry });
      let most = 0;
      let count = 0;
      // Measured with the current batch alive, as a consumer holds it.
      for await (const b of ds.batches(64)) {
        count += b.shape[0];
        if (count % 256 === 0) most = Math.max(most, (await settle()) - before);
      }
      expect(count).toBe(n);
      return { peak: most, bytes: n * 3 * 64 * 64 * 4 };
    };
    await settle();
    const small = await peak(256);
    const large = await peak(1024);
    // The decoded floats are 12 and 48 MiB; a batch of them is 3 MiB, the decodes in flight under 1 MiB.
    const noise = 8 * 2 ** 20;
    expect(large.peak).toBeLessThan(large.bytes / 3);
    expect(large.peak - small.peak).toBeLessThan(noise);
    console.log(
      `image streaming: ${(small.bytes / 2 ** 20).toFixed(0)} MiB of decoded samples -> ${(small.peak / 2 ** 20).toFixed(2)} MiB held at peak; ${(large.bytes / 2 ** 20).toFixed(0)} MiB -> ${(large.peak / 2 ** 20).toFixed(2)} MiB`,
    );
  });
});

// Real photographs (python3-skimage's sample data, public domain and CC0) against torchvision's preprocessing:
// fixtures/photos/make_photo_cnn.py trained photo-cnn.onnx on them through Resize(146), CenterCrop(128), ToTensor,
// Normalize(ImageNet) and recorded its logits and each preprocessed tensor's channel means.
const EXPECTED = JSON.parse(readFileSync(new URL('../../../../fixtures/models/photo-cnn.expected.json', import.meta.url), 'utf8')) as {
  photos: { file: string; label: number; logits: number[]; channel_means: number[] }[];
};
const PHOTO_MODEL = new URL('../../../../fixtures/models/photo-cnn.onnx', import.meta.url).pathname;

describe.skipIf(!hasPhotos())(`an ImageNet-style folder of real photographs${photosSkipNote()}`, () => {
  let folder: string;
  beforeAll(() => {
    folder = makePhotoFolder(tmp);
  });

  it('decodes, resizes, crops and normalises as torchvision does: same channel means, same logits', async () => {
    const model = await readModel(PHOTO_MODEL);
    const ds = await openDataset(folder, {
      mean: [0.485, 0.456, 0.406],
      std: [0.229, 0.224, 0.225],
      image: { inputShape: model.graph.inputs[0].shape },
    });
    expect(ds.name).toContain('(11 images, 3 class folders; RGB, short side resized to 146, centre crop 128×128)');
    const [batch] = await collect(ds.batches(32));
    expect(Array.from(batch.y!)).toEqual(photoFolderOrder().map((p) => p.label));
    expect(EXPECTED.photos.map((p) => p.file)).toEqual(photoFolderOrder().map((p) => p.file));
    const plane = 128 * 128;
    let worstMean = 0;
    for (const [i, p] of EXPECTED.photos.entries()) {
      for (let c = 0; c < 3; c++) {
        let sum = 0;
        for (let j = 0; j < plane; j++) sum += batch.x[(i * 3 + c) * plane + j];
        worstMean = Math.max(worstMean, Math.abs(sum / plane - p.channel_means[c]));
      }
    }
    const run = await runModel(model, { input: { dtype: 'float32', shape: batch.shape, data: batch.x } });
    const logits = run.outputs.logits.data as Float32Array;
    let worstLogit = 0;
    for (const [i, p] of EXPECTED.photos.entries()) {
      const ours = Array.from(logits.subarray(3 * i, 3 * i + 3));
      worstLogit = Math.max(worstLogit, ...ours.map((v, k) => Math.abs(v - p.logits[k])));
      expect(ours.indexOf(Math.max(...ours)), p.file).toBe(p.label);
    }
    console.log(`photos vs torchvision: channel means within ${worstMean.toExponential(2)} (normalised units), logits within ${worstLogit.toExponential(2)}`);
    // libvips's antialiased linear resize is not PIL's to the bit (about 0.3 grey levels apart on average); a
    // lanczos3 resize gives logits 0.65 apart, applying the JPEGs' colour profiles channel means 0.18 apart.
    expect(worstMean).toBeLessThan(0.01);
    expect(worstLogit).toBeLessThan(0.2);
  });

  it('names the broken JPEG that scikit-image ships, or skips and counts it', async () => {
    copyFileSync(join(PHOTOS_DIR, PHOTO_LAYOUT.broken), join(folder, 'space', PHOTO_LAYOUT.broken));
    const geometry = { inputShape: ['N', 3, 128, 128] };
    const strict = await openDataset(folder, { image: geometry });
    await expect(collect(strict.batches(4))).rejects.toThrow(`Cannot decode image ${join(folder, 'space', PHOTO_LAYOUT.broken)}: corrupt header`);
    const lenient = await openDataset(folder, { image: { ...geometry, skipBad: true } });
    expect((await collect(lenient.batches(4))).reduce((n, b) => n + b.shape[0], 0)).toBe(11);
    expect([...(lenient.skipped?.keys() ?? [])]).toEqual([join(folder, 'space', PHOTO_LAYOUT.broken)]);
  });
});
