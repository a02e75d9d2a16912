import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileAccessError, InvalidDataError, UsageError } from '../errors/index.js';
import { InMemoryDataset, type Dataset } from './dataset.js';
import { readIdxFile } from './idx.js';
import { resolveNormalization, uint8Tables } from './normalize.js';

export type FashionMnistSplit = 'train' | 'test';
/** 'auto': PG_DATA_DIR, then Debian's package, then the bundled subset; the others force one place. */
export type FashionMnistSource = 'auto' | 'bundled' | 'system';

export const FASHION_MNIST_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'] as const;
/** Samples in the full published splits (a folder may hold fewer, like the bundled subset). */
export const FASHION_MNIST_FULL_SIZE: Record<FashionMnistSplit, number> = { train: 60000, test: 10000 };
/** Where Debian's dataset-fashion-mnist package installs the four .gz files. */
export const FASHION_MNIST_SYSTEM_DIR = '/usr/share/datasets/fashion-mnist';
/** The subset shipped in the repo (fixtures/data/fashion-mnist), found relative to src/data or dist/data. */
export const FASHION_MNIST_BUNDLED_DIR = fileURLToPath(new URL('../../../../fixtures/data/fashion-mnist/', import.meta.url));

const FILE_STEMS: Record<FashionMnistSplit, { images: string; labels: string }> = {
  train: { images: 'train-images-idx3-ubyte', labels: 'train-labels-idx1-ubyte' },
  test: { images: 't10k-images-idx3-ubyte', labels: 't10k-labels-idx1-ubyte' },
};
const SOURCES: readonly FashionMnistSource[] = ['auto', 'bundled', 'system'];

export interface FashionMnistOptions {
  /** Overrides PG_DATA_SOURCE. */
  source?: FashionMnistSource;
  mean?: number[];
  std?: number[];
  /** Environment to read PG_DATA_DIR / PG_DATA_SOURCE from (default process.env). */
  env?: Record<string, string | undefined>;
  /** Folders to use instead of the Debian and bundled ones (tests). */
  systemDir?: string;
  bundledDir?: string;
}

export interface FashionMnistLocation {
  images: string;
  labels: string;
  /** How the name describes the place, e.g. 'bundled subset'. */
  description: string;
}

/** Finds the split's two files, following the resolution order, or throws FileAccessError saying where it looked. */
export function locateFashionMnist(split: FashionMnistSplit, opts: FashionMnistOptions = {}): FashionMnistLocation {
  const env = opts.env ?? process.env;
  const source = opts.source ?? parseSource(env.PG_DATA_SOURCE, 'PG_DATA_SOURCE');
  const systemDir = opts.systemDir ?? FASHION_MNIST_SYSTEM_DIR;
  const bundledDir = opts.bundledDir ?? FASHION_MNIST_BUNDLED_DIR;
  const candidates: { dir: string; description: string }[] = [];
  if (source === 'auto') {
    const dataDir = env.PG_DATA_DIR;
    if (dataDir !== undefined && dataDir !== '') {
      // An explicit folder must hold the files: silently falling back would hide a typo.
      return findFiles(split, dataDir, `PG_DATA_DIR=${dataDir}`) ?? missing(split, [dataDir], 'PG_DATA_DIR points to a folder without them');
    }
    candidates.push({ dir: systemDir, description: systemDir }, { dir: bundledDir, description: 'bundled subset' });
  } else if (source === 'system') {
    candidates.push({ dir: systemDir, description: systemDir });
  } else {
    candidates.push({ dir: bundledDir, description: 'bundled subset' });
  }
  for (const c of candidates) {
    const found = findFiles(split, c.dir, c.description);
    if (found !== undefined) return found;
  }
  const triedBundled = candidates.some((c) => c.dir === bundledDir);
  return missing(
    split,
    candidates.map((c) => c.dir),
    source === 'bundled' ? 'the bundled subset ships only in the pg source tree' : undefined,
    !triedBundled,
  );
}

/** Opens `fashion-mnist:<split>`: images [1, 28, 28] scaled to [0, 1] (then normalised if asked), 10 classes. */
export async function openFashionMnist(split: FashionMnistSplit, opts: FashionMnistOptions = {}): Promise<Dataset> {
  const norm = resolveNormalization(opts.mean, opts.std, 1);
  const where = locateFashionMnist(split, opts);
  const [images, labels] = await Promise.all([readIdxFile(where.images), readIdxFile(where.labels)]);

  const action = 'Replace it with the file as published by Zalando Research (Debian package dataset-fashion-mnist).';
  if (images.dtype !== 'uint8' || images.shape.length !== 3 || images.shape[1] !== 28 || images.shape[2] !== 28) {
    throw new InvalidDataError(`${where.images} holds ${images.dtype} [${images.shape.join(', ')}]; Fashion-MNIST images are uint8 [N, 28, 28].`, { action });
  }
  if (labels.dtype !== 'uint8' || labels.shape.length !== 1) {
    throw new InvalidDataError(`${where.labels} holds ${labels.dtype} [${labels.shape.join(', ')}]; Fashion-MNIST labels are uint8 [N].`, { action });
  }
  const n = images.shape[0];
  if (labels.shape[0] !== n) {
    throw new InvalidDataError(`${where.labels} has ${labels.shape[0]} labels but ${where.images} has ${n} images.`, {
      action: 'Use the images and labels files of the same split and subset.',
    });
  }
  const ys = Int32Array.from(labels.data);
  const bad = ys.findIndex((v) => v >= FASHION_MNIST_CLASSES.length);
  if (bad >= 0) {
    throw new InvalidDataError(`${where.labels} has label ${ys[bad]} at index ${bad}; Fashion-MNIST has 10 classes (0-9).`, { action });
  }

  const pixels = images.data as Uint8Array;
  const [table] = uint8Tables(norm, 1); // decode through a table: one lookup per pixel instead of a divide
  const sampleSize = 28 * 28;
  return new InMemoryDataset({
    name: `fashion-mnist:${split} (${n} of ${FASHION_MNIST_FULL_SIZE[split]}, ${where.description})`,
    size: n,
    sampleShape: [1, 28, 28],
    numClasses: FASHION_MNIST_CLASSES.length,
    labels: ys,
    writeSample: (i, out, offset) => {
      const base = i * sampleSize;
      for (let j = 0; j < sampleSize; j++) out[offset + j] = table[pixels[base + j]];
    },
  });
}

/** Parses a source name from `?source=` or PG_DATA_SOURCE; `from` names where it came from in the error. */
export function parseSource(value: string | undefined, from: string): FashionMnistSource {
  if (value === undefined || value === '') return 'auto';
  if ((SOURCES as readonly string[]).includes(value)) return value as FashionMnistSource;
  throw new UsageError(`${from} is '${value}', which is not a data source.`, {
    action: `Use one of: ${SOURCES.join(', ')} (bundled = the small subset shipped with pg).`,
  });
}

/** The split's files in `dir`, compressed (.gz, as published) or not; undefined if either is absent. */
function findFiles(split: FashionMnistSplit, dir: string, description: string): FashionMnistLocation | undefined {
  const pick = (stem: string): string | undefined => [`${stem}.gz`, stem].map((f) => join(dir, f)).find((p) => existsSync(p));
  const images = pick(FILE_STEMS[split].images);
  const labels = pick(FILE_STEMS[split].labels);
  return images !== undefined && labels !== undefined ? { images, labels, description } : undefined;
}

function missing(split: FashionMnistSplit, dirs: string[], why?: string, offerBundled = true): never {
  const stems = FILE_STEMS[split];
  throw new FileAccessError(`Cannot find Fashion-MNIST ${split} files (${stems.images}.gz, ${stems.labels}.gz) in ${dirs.join(' or ')}${why === undefined ? '' : `: ${why}`}.`, {
    action:
      'Set PG_DATA_DIR to a folder with the four Fashion-MNIST .gz files, or install the Debian package dataset-fashion-mnist' +
      (!offerBundled ? '.' : `, or use fashion-mnist:${split}?source=bundled for the subset shipped with pg.`),
  });
}
