import { statSync } from 'node:fs';
import { sampleOrder, type Batch, type BatchOptions, type Dataset } from './dataset.js';
import { decodeImage, type DecodedImage } from './image-decode.js';
import { describeGeometry, type ImageGeometry } from './image-geometry.js';
import { listImageFolder, listImageTable, type ImageList } from './image-list.js';
import { resolveNormalization, uint8Tables } from './normalize.js';

export interface ImageDatasetOptions {
  geometry: ImageGeometry;
  /** Per-channel normalisation after scaling pixels to [0, 1]; none keeps pixels in [0, 1]. */
  mean?: number[];
  std?: number[];
  /** Skip images that cannot be read or decoded (recorded in `skipped`) instead of failing on the first. */
  skipBad?: boolean;
}

/** What a data set and its subsets share: the images, how to decode them, and the files skipped so far. */
interface ImageSource {
  list: ImageList;
  geometry: ImageGeometry;
  /** Byte → normalised float, per channel. */
  tables: Float32Array[];
  skipBad: boolean;
  skipped: Map<string, string>;
}

/** True when `path` names an image source: a folder (that exists), or a .csv/.tsv list of images. */
export function isImageSource(path: string): boolean {
  return /\.(csv|tsv)$/i.test(path) || statSync(path, { throwIfNoEntry: false })?.isDirectory() === true;
}

/**
 * `--data DIR` (one subfolder per class) or `--data list.csv` (path,label lines): JPEG and PNG images, decoded
 * to `geometry` one batch at a time as they are read, so memory holds the file list and about two batches.
 */
export async function openImageDataset(path: string, opts: ImageDatasetOptions): Promise<ImageDataset> {
  const isTable = /\.(csv|tsv)$/i.test(path);
  const list = isTable ? await listImageTable(path) : await listImageFolder(path);
  const { geometry } = opts;
  const norm = resolveNormalization(opts.mean, opts.std, geometry.channels);
  const source: ImageSource = { list, geometry, tables: uint8Tables(norm, geometry.channels), skipBad: opts.skipBad ?? false, skipped: new Map() };
  const n = list.files.length;
  const classes = isTable ? (list.classes === undefined ? 'integer labels' : `${list.numClasses} class names`) : `${list.numClasses} class folders`;
  const name = `${path} (${n} image${n === 1 ? '' : 's'}, ${classes}${list.notes.map((s) => `, ${s}`).join('')}; ${describeGeometry(geometry)})`;
  return new ImageDataset(source, name);
}

/** A data set of image files, decoded (and prefetched) batch by batch; see openImageDataset. */
export class ImageDataset implements Dataset {
  readonly size: number;
  readonly sampleShape: number[];
  readonly numClasses: number;
  readonly labels: Int32Array;
  readonly hasLabels = true;
  private readonly sampleSize: number;

  /** `pick` maps this data set's sample indices to the list's (a subset, e.g. a hold-out). */
  constructor(
    private readonly source: ImageSource,
    readonly name: string,
    private readonly pick?: Uint32Array,
  ) {
    const { geometry: g, list } = source;
    this.size = pick?.length ?? list.files.length;
    this.sampleShape = [g.channels, g.height, g.width];
    this.sampleSize = g.channels * g.height * g.width;
    this.numClasses = list.numClasses;
    this.labels = pick === undefined ? list.labels : Int32Array.from(pick, (i) => list.labels[i]);
  }

  /** Class names by label, when the labels are names (folders, or a list with named labels). */
  get classes(): readonly string[] | undefined {
    return this.source.list.classes;
  }

  get skipped(): ReadonlyMap<string, string> {
    return this.source.skipped;
  }

  /** The samples at `indices` (in that order) as a data set of their own, sharing the files and the skipped record. */
  subset(indices: Uint32Array, name: string): ImageDataset {
    return new ImageDataset(
      this.source,
      name,
      Uint32Array.from(indices, (i) => this.pick?.[i] ?? i),
    );
  }

  /**
   * Batches of decoded images. While one batch is being used, the next batch's images are decoded (sharp decodes
   * on libuv's threads). With skipBad, a bad image is replaced by the next one in the order, so batches stay
   * full and `limit` counts the images used.
   */
  batches(batchSize: number, opts: BatchOptions = {}): AsyncIterable<Batch> {
    // Validate now rather than at the first next(), so a bad flag fails where it is passed.
    const order = sampleOrder(this.size, batchSize, opts);
    return this.generate(order, batchSize, opts.limit ?? this.size, opts.dropLast ?? false);
  }

  private async *generate(order: Uint32Array, batchSize: number, limit: number, dropLast: boolean): AsyncGenerator<Batch> {
    const { list, geometry, tables, skipBad, skipped } = this.source;
    const pending: { index: number; image: Promise<DecodedImage> }[] = [];
    let next = 0;
    // One batch of decodes ahead of the one being filled.
    const topUp = (): void => {
      while (pending.length < batchSize && next < order.length) {
        const index = order[next++];
        const file = list.files[this.pick?.[index] ?? index];
        pending.push({ index, image: decodeImage(file, geometry) });
      }
    };
    const plane = geometry.height * geometry.width;
    for (let used = 0; used < limit;) {
      const n = Math.min(batchSize, limit - used);
      const x = new Float32Array(n * this.sampleSize);
      const y = new Int32Array(n);
      let k = 0;
      while (k < n) {
        topUp();
        const item = pending.shift();
        if (item === undefined) break;
        const decoded = await item.image;
        if (!decoded.ok) {
          if (!skipBad) throw decoded.error;
          skipped.set(list.files[this.pick?.[item.index] ?? item.index], decoded.error.message);
          continue;
        }
        const offset = k * this.sampleSize;
        for (let c = 0; c < geometry.channels; c++) {
          const table = tables[c];
          const base = c * plane;
          for (let i = 0; i < plane; i++) x[offset + base + i] = table[decoded.pixels[base + i]];
        }
        y[k++] = this.labels[item.index];
      }
      if (k === 0 || (k < batchSize && dropLast)) return;
      used += k;
      yield k === n ? { x, shape: [n, ...this.sampleShape], y } : { x: x.slice(0, k * this.sampleSize), shape: [k, ...this.sampleShape], y: y.slice(0, k) };
      if (k < n) return;
    }
  }
}
