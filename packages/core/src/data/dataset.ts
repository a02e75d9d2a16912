import { InvalidDataError, UsageError } from '../errors/index.js';
import { shuffledIndices } from './random.js';

/** One batch of samples, row-major. */
export interface Batch {
  /** The samples' floats, `shape` in row-major order. */
  x: Float32Array;
  /** [n, C, H, W] for images, or [n, ...sampleShape] in general; n may be smaller for the last batch. */
  shape: number[];
  /**
   * Class labels when the data set has labels: one per sample, or `labelShape`'s product per sample (a language
   * model's next tokens, one per step), sample after sample.
   */
  y?: Int32Array;
}

export interface BatchOptions {
  /** Visit samples in a seeded random order instead of file order. */
  shuffle?: boolean;
  /** Seed of the shuffle (default 0, so an unseeded shuffle is still reproducible). */
  seed?: number;
  /** Use only the first `limit` samples (of the shuffled order when shuffling). */
  limit?: number;
  /** Skip a last batch smaller than `batchSize` (e.g. for training with fixed-size batches). */
  dropLast?: boolean;
}

/**
 * What `Dataset.batches` returns. Arrays in memory or in a file yield synchronously; image folders yield
 * asynchronously (decoding is asynchronous). Consumers iterate with `for await`, which takes both.
 */
export type BatchStream = Iterable<Batch> | AsyncIterable<Batch>;

export interface Dataset {
  /** Human-readable, saying which source was used, e.g. 'fashion-mnist:test (1000 of 10000, bundled subset)'. */
  readonly name: string;
  /** Number of samples. */
  readonly size: number;
  /** Shape of one sample, e.g. [1, 28, 28]. */
  readonly sampleShape: number[];
  readonly numClasses?: number;
  readonly hasLabels: boolean;
  /** All labels in sample order, when known up front; lets label checks skip decoding the samples. */
  readonly labels?: Int32Array;
  /**
   * The labels of one sample when there are several: [T] for per-step targets (token ids a language model
   * should predict at each step). Absent: one class label per sample.
   */
  readonly labelShape?: number[];
  /**
   * Files that could not be read and were skipped (image folders opened with `skipBad`), by path, with the
   * reason; shared with the data set's subsets, filled while batches are read.
   */
  readonly skipped?: ReadonlyMap<string, string>;
  /** Yields batches in order (or in a seeded shuffled order), without holding more than one batch of decoded floats beyond the source arrays. */
  batches(batchSize: number, opts?: BatchOptions): BatchStream;
}

/** What an in-memory data set is made of: its metadata and a way to decode one sample. */
export interface SampleSource {
  name: string;
  size: number;
  sampleShape: number[];
  numClasses?: number;
  labels?: Int32Array;
  /** Labels per sample when there are several (see Dataset.labelShape). */
  labelShape?: number[];
  /** Writes sample `index` as floats into out[offset, offset + product(sampleShape)). */
  writeSample(index: number, out: Float32Array, offset: number): void;
}

/**
 * A data set whose source arrays are in memory (decoded file contents); samples are decoded
 * into floats one batch at a time, so a uint8 image set never exists as a whole float copy.
 */
export class InMemoryDataset implements Dataset {
  readonly name: string;
  readonly size: number;
  readonly sampleShape: number[];
  readonly numClasses?: number;
  readonly labels?: Int32Array;
  readonly labelShape?: number[];
  private readonly sampleSize: number;
  private readonly writeSample: SampleSource['writeSample'];

  constructor(source: SampleSource) {
    if (source.labels !== undefined && source.labels.length !== source.size * labelsPerSample(source)) {
      // A programming error in a reader, not bad user data: the readers check lengths first.
      throw new Error(`${source.name}: ${source.labels.length} labels for ${source.size} samples`);
    }
    this.name = source.name;
    this.size = source.size;
    this.sampleShape = [...source.sampleShape];
    this.numClasses = source.numClasses;
    this.labels = source.labels;
    this.labelShape = source.labelShape;
    this.sampleSize = source.sampleShape.reduce((a, b) => a * b, 1);
    this.writeSample = source.writeSample;
  }

  get hasLabels(): boolean {
    return this.labels !== undefined;
  }

  /** The samples at `indices` (in that order) as a data set of their own; the source arrays are shared, not copied. */
  subset(indices: Uint32Array, name: string): InMemoryDataset {
    const pick = Uint32Array.from(indices);
    return new InMemoryDataset({
      name,
      size: pick.length,
      sampleShape: this.sampleShape,
      numClasses: this.numClasses,
      labels: this.labels === undefined ? undefined : pickLabels(this.labels, pick, labelsPerSample(this)),
      labelShape: this.labelShape,
      writeSample: (index, out, offset) => this.writeSample(pick[index], out, offset),
    });
  }

  batches(batchSize: number, opts: BatchOptions = {}): Iterable<Batch> {
    // Validate now rather than at the first next(), so a bad flag fails where it is passed.
    const order = batchOrder(this.size, batchSize, opts);
    return this.generate(order, batchSize, opts.dropLast ?? false);
  }

  private *generate(order: Uint32Array, batchSize: number, dropLast: boolean): Generator<Batch> {
    for (let start = 0; start < order.length; start += batchSize) {
      const n = Math.min(batchSize, order.length - start);
      if (n < batchSize && dropLast) return;
      // A fresh array per batch: consumers may keep a batch (e.g. wrap it in a tensor) after the next one.
      const x = new Float32Array(n * this.sampleSize);
      const indices = order.subarray(start, start + n);
      for (let k = 0; k < n; k++) this.writeSample(indices[k], x, k * this.sampleSize);
      const y = this.labels === undefined ? undefined : pickLabels(this.labels, indices, labelsPerSample(this));
      yield y === undefined ? { x, shape: [n, ...this.sampleShape] } : { x, shape: [n, ...this.sampleShape], y };
    }
  }
}

/** Labels per sample: 1, or the product of `labelShape`. */
export function labelsPerSample(d: { labelShape?: readonly number[] }): number {
  return d.labelShape === undefined ? 1 : d.labelShape.reduce((a, b) => a * b, 1);
}

/** The labels of samples `indices`, in that order, `perSample` each. */
export function pickLabels(labels: Int32Array, indices: ArrayLike<number>, perSample: number): Int32Array {
  const out = new Int32Array(indices.length * perSample);
  for (let k = 0; k < indices.length; k++) out.set(labels.subarray(indices[k] * perSample, (indices[k] + 1) * perSample), k * perSample);
  return out;
}

/** The sample indices a pass over `size` samples visits, after shuffling and limiting. */
export function batchOrder(size: number, batchSize: number, opts: BatchOptions = {}): Uint32Array {
  const order = sampleOrder(size, batchSize, opts);
  const limit = opts.limit;
  return limit === undefined || limit >= size ? order : order.subarray(0, limit);
}

/**
 * Every sample index in the order a pass visits them (seeded shuffle or file order), before `limit`, which
 * is checked here too; for sources that may skip samples and so cannot cut the order in advance.
 */
export function sampleOrder(size: number, batchSize: number, opts: BatchOptions = {}): Uint32Array {
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) {
    throw new UsageError(`Invalid batch size ${String(batchSize)}: it must be a positive integer.`, {
      action: 'Pass a batch size of 1 or more, e.g. --batch-size 64.',
    });
  }
  const limit = opts.limit;
  if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 1)) {
    throw new UsageError(`Invalid sample limit ${String(limit)}: it must be a positive integer.`, {
      action: 'Pass a limit of 1 or more, or leave it out to use every sample.',
    });
  }
  if (opts.shuffle) return shuffledIndices(size, opts.seed ?? 0);
  const order = new Uint32Array(size);
  for (let i = 0; i < size; i++) order[i] = i;
  return order;
}

/** Every batch of a stream, in order (for callers that want them in hand: tests, benches, small evaluations). */
export async function collectBatches(stream: BatchStream): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of stream) out.push(b);
  return out;
}

/** The first batch of a stream; the rest is not read. */
export async function firstBatch(stream: BatchStream): Promise<Batch> {
  for await (const b of stream) return b;
  throw new InvalidDataError('The data gave no batch.', { action: 'Check that the data set holds samples.' });
}
