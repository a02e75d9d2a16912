import { closeSync, openSync, readSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { InvalidDataError } from '../errors/index.js';
import { dataFileError, withDataFile } from './data-file.js';
import { batchOrder, labelsPerSample, pickLabels, type Batch, type BatchOptions, type Dataset } from './dataset.js';
import { HOST_LITTLE_ENDIAN, NPY_PREFIX_BYTES, npyHeaderEnd, parseNpyLayout, swapBytes, type NpyLayout } from './npy.js';

/** Samples read per call when scanning the whole file (a few MB for image data). */
const SCAN_SAMPLES = 1024;

/** An InvalidDataError for a NaN or infinite value in a sample. */
export function nonFiniteSample(name: string, value: number, sample: number, dtype: string): InvalidDataError {
  return new InvalidDataError(`${name} contains ${value} in sample ${sample}${dtype === 'float64' ? ' (after conversion to float32)' : ''}.`, {
    action: 'Replace non-finite values (e.g. np.nan_to_num) or drop those samples.',
  });
}

/**
 * An .npy file of float samples (N×...) whose data stays on disk: only the header is read when opened,
 * and samples are read with positional reads when asked for, so memory does not grow with N.
 */
export class NpySampleFile {
  readonly sampleSize: number;

  /**
   * @param path the file to read
   * @param layout the array's layout, `dataStart` counted from the start of `path`
   * @param name the array in messages, e.g. 'data.npz:x' (default: path)
   */
  constructor(
    readonly path: string,
    readonly layout: NpyLayout,
    readonly name = path,
  ) {
    this.sampleSize = layout.shape.slice(1).reduce((a, b) => a * b, 1);
  }

  /** Writes the samples `indices` (in that order) as float32 into `out`, reading contiguous runs at once. */
  readSamples(fd: number, indices: ArrayLike<number>, out: Float32Array): void {
    const { info, littleEndian } = this.layout;
    const sampleBytes = this.sampleSize * info.bytes;
    for (let k = 0; k < indices.length;) {
      let run = 1;
      while (k + run < indices.length && indices[k + run] === indices[k] + run) run++;
      const bytes = new Uint8Array(run * sampleBytes);
      const position = this.layout.dataStart + indices[k] * sampleBytes;
      let done = 0;
      while (done < bytes.length) {
        let n: number;
        try {
          n = readSync(fd, bytes, done, bytes.length - done, position + done);
        } catch (e) {
          throw dataFileError(this.path, e);
        }
        if (n === 0) {
          throw new InvalidDataError(`${this.name} became shorter while it was being read.`, { action: 'Do not change the data file while pg runs.' });
        }
        done += n;
      }
      if (info.bytes > 1 && littleEndian !== HOST_LITTLE_ENDIAN) swapBytes(bytes, info.bytes);
      const values = info.make(bytes.buffer, run * this.sampleSize);
      // float64 narrows to float32 here; integers (token ids) are exact below 2^24, which their check keeps to.
      if (values instanceof BigInt64Array) for (let i = 0; i < values.length; i++) out[k * this.sampleSize + i] = Number(values[i]);
      else out.set(values, k * this.sampleSize);
      k += run;
    }
  }

  /** Opens the file for reading; the caller closes the descriptor. */
  openFd(): number {
    try {
      return openSync(this.path, 'r');
    } catch (e) {
      throw dataFileError(this.path, e);
    }
  }

  /** Fails on the first NaN or infinite value (after conversion to float32), reading the file in chunks. */
  checkFinite(): void {
    const n = this.layout.shape[0];
    const fd = this.openFd();
    try {
      const out = new Float32Array(Math.min(n, SCAN_SAMPLES) * this.sampleSize);
      for (let start = 0; start < n; start += SCAN_SAMPLES) {
        const count = Math.min(SCAN_SAMPLES, n - start);
        const indices = Array.from({ length: count }, (_, i) => start + i);
        this.readSamples(fd, indices, out);
        for (let i = 0; i < count * this.sampleSize; i++) {
          const v = out[i];
          if (v - v !== 0) throw nonFiniteSample(this.name, v, start + Math.floor(i / this.sampleSize), this.layout.info.dtype);
        }
      }
    } finally {
      closeSync(fd);
    }
  }
}

/** Reads and checks an .npy file's header, leaving its data on disk. */
export async function openNpySampleFile(path: string): Promise<NpySampleFile> {
  return withDataFile(path, (handle, size) => readNpyLayoutAt(handle, path, { start: 0, size, name: path }));
}

/** The .npy array stored in `bytes start..start+size` of an open file (a whole .npy, or a stored .npz entry). */
export async function readNpyLayoutAt(handle: FileHandle, path: string, at: { start: number; size: number; name: string }): Promise<NpySampleFile> {
  const prefix = new Uint8Array(Math.min(at.size, NPY_PREFIX_BYTES));
  await handle.read(prefix, 0, prefix.length, at.start);
  const headerEnd = Math.min(at.size, npyHeaderEnd(prefix));
  const header = new Uint8Array(headerEnd);
  await handle.read(header, 0, headerEnd, at.start);
  const layout = parseNpyLayout(header, at.name, at.size);
  return new NpySampleFile(path, { ...layout, dataStart: at.start + layout.dataStart }, at.name);
}

/** A data set over an .npy sample file and labels in memory; each batch is read from the file when yielded. */
export class NpyFileDataset implements Dataset {
  readonly name: string;
  readonly size: number;
  readonly sampleShape: number[];

  /**
   * `pick` maps this data set's sample indices to the file's (a subset, e.g. a hold-out); `labels` are this
   * data set's own, in its order, `labelShape` each when several. `name` replaces the default description.
   */
  constructor(
    private readonly file: NpySampleFile,
    readonly labels: Int32Array | undefined,
    source: string,
    private readonly pick?: Uint32Array,
    name?: string,
    readonly labelShape?: number[],
  ) {
    this.size = pick?.length ?? file.layout.shape[0];
    this.sampleShape = file.layout.shape.slice(1);
    this.name = name ?? `${source} (${this.size} samples${labels === undefined ? ', no labels' : ''})`;
  }

  /** The samples at `indices` (in that order) as a data set of their own, read from the same file. */
  subset(indices: Uint32Array, name: string): NpyFileDataset {
    const pick = Uint32Array.from(indices, (i) => this.pick?.[i] ?? i);
    const labels = this.labels === undefined ? undefined : pickLabels(this.labels, indices, labelsPerSample(this));
    return new NpyFileDataset(this.file, labels, name, pick, name, this.labelShape);
  }

  get hasLabels(): boolean {
    return this.labels !== undefined;
  }

  batches(batchSize: number, opts: BatchOptions = {}): Iterable<Batch> {
    // Validate now rather than at the first next(), so a bad flag fails where it is passed.
    const order = batchOrder(this.size, batchSize, opts);
    return this.generate(order, batchSize, opts.dropLast ?? false);
  }

  private *generate(order: Uint32Array, batchSize: number, dropLast: boolean): Generator<Batch> {
    const fd = this.file.openFd();
    try {
      for (let start = 0; start < order.length; start += batchSize) {
        const n = Math.min(batchSize, order.length - start);
        if (n < batchSize && dropLast) return;
        const indices = order.subarray(start, start + n);
        const x = new Float32Array(n * this.file.sampleSize);
        this.file.readSamples(fd, this.pick === undefined ? indices : indices.map((i) => this.pick![i]), x);
        const shape = [n, ...this.sampleShape];
        if (this.labels === undefined) yield { x, shape };
        else yield { x, shape, y: pickLabels(this.labels, indices, labelsPerSample(this)) };
      }
    } finally {
      closeSync(fd);
    }
  }
}
