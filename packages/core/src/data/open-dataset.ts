import { resolve } from 'node:path';
import { InvalidDataError, UsageError } from '../errors/index.js';
import type { Dim } from '../graph/index.js';
import type { Dataset } from './dataset.js';
import { openFashionMnist, parseSource, type FashionMnistSplit } from './fashion-mnist.js';
import { isImageSource, openImageDataset } from './image-dataset.js';
import { imageGeometry } from './image-geometry.js';
import { openNpyDataset, openNpzDataset } from './npy-dataset.js';

export interface OpenDatasetOptions {
  /** `--labels y.npy`, only with a .npy data file. */
  labels?: string;
  /** Per-channel normalisation, only for image data (array files are used as they are). */
  mean?: number[];
  std?: number[];
  /** Image folders and lists: what to decode them to, and whether to skip bad files. */
  image?: ImageDataFlags;
  /** Folder that relative paths are taken from (default: the current folder). */
  baseDir?: string;
  /** Environment for PG_DATA_DIR / PG_DATA_SOURCE (default process.env). */
  env?: Record<string, string | undefined>;
}

/** How to read image folders and lists: the model's input shape gives channels and crop, the flags the rest. */
export interface ImageDataFlags {
  /** The model input's shape [N, C, H, W] (dims may be symbolic or unknown). */
  inputShape?: readonly Dim[];
  /** `--resize`: the short side before the centre crop. */
  resize?: number;
  /** `--crop`: the crop size, when the model input does not fix it. */
  crop?: { height: number; width: number };
  /** `--skip-bad`: skip images that cannot be read or decoded. */
  skipBad?: boolean;
}

const ACCEPTED_FORMS =
  'fashion-mnist:train, fashion-mnist:test (add ?source=bundled for the small subset shipped with pg), ' +
  'a folder of JPEG/PNG images with one subfolder per class, a .csv/.tsv file of image paths and labels, ' +
  'a .npz file with arrays x (N×C×H×W float) and y (labels), or a .npy file of samples with --labels y.npy';

/** Opens a data set from a `--data` spec. */
export async function openDataset(spec: string, opts: OpenDatasetOptions = {}): Promise<Dataset> {
  const fashion = /^fashion-mnist(?::([^?]*))?(?:\?(.*))?$/.exec(spec);
  const path = (p: string): string => (opts.baseDir === undefined ? p : resolve(opts.baseDir, p));
  const images = fashion === null && isImageSource(path(spec));
  const imageFlags = (['resize', 'crop', 'skipBad'] as const).filter((k) => opts.image?.[k] !== undefined && opts.image[k] !== false);
  if (!images && imageFlags.length > 0) {
    const names = imageFlags.map((k) => (k === 'skipBad' ? '--skip-bad' : `--${k}`));
    throw new UsageError(`${names.join(', ')} ${names.length === 1 ? 'applies' : 'apply'} only to image folders and .csv/.tsv image lists, not to ${spec}.`, {
      action: 'Leave them out, or pass a folder of images as --data.',
    });
  }
  if (fashion !== null) return openBuiltin(spec, fashion[1], fashion[2], opts);
  if (images) {
    if (opts.labels !== undefined) {
      throw new UsageError(`--labels is only for .npy data; ${spec} gives its labels by ${/\.(csv|tsv)$/i.test(spec) ? 'its second column' : 'class folder'}.`, {
        action: 'Leave out --labels.',
      });
    }
    const { inputShape, resize, crop, skipBad } = opts.image ?? {};
    return openImageDataset(path(spec), { geometry: imageGeometry(inputShape, { resize, crop }), mean: opts.mean, std: opts.std, skipBad });
  }

  const lower = spec.toLowerCase();
  const isNpz = lower.endsWith('.npz');
  if (!isNpz && !lower.endsWith('.npy')) {
    throw new UsageError(`Cannot use '${spec}' as data: it is not a known data set, a folder or a .npy/.npz/.csv/.tsv file. Accepted: ${ACCEPTED_FORMS}.`, {
      action: 'Pass one of those, e.g. --data fashion-mnist:test, --data photos/ or --data data.npz.',
    });
  }
  if (opts.mean !== undefined || opts.std !== undefined) {
    throw new UsageError(`--mean/--std do not apply to ${spec}: array files are used as they are.`, {
      action: 'Normalise the arrays before saving them, or leave out --mean/--std.',
    });
  }
  if (isNpz) {
    if (opts.labels !== undefined) {
      throw new UsageError(`--labels is only for .npy data; ${spec} holds its labels as array y.`, {
        action: 'Leave out --labels, or save the labels inside the .npz as y.',
      });
    }
    return openNpzDataset(path(spec));
  }
  return openNpyDataset(path(spec), opts.labels === undefined ? undefined : path(opts.labels));
}

function openBuiltin(spec: string, split: string | undefined, query: string | undefined, opts: OpenDatasetOptions): Promise<Dataset> {
  if (split !== 'train' && split !== 'test') {
    throw new UsageError(`'${spec}' names no split of Fashion-MNIST.`, { action: 'Use fashion-mnist:train or fashion-mnist:test.' });
  }
  if (opts.labels !== undefined) {
    throw new UsageError('--labels is only for .npy data; Fashion-MNIST has its own labels.', { action: 'Leave out --labels.' });
  }
  const params = new URLSearchParams(query ?? '');
  const unknown = [...params.keys()].filter((k) => k !== 'source');
  if (unknown.length > 0) {
    throw new UsageError(`'${spec}' has unknown option ${unknown.join(', ')}.`, { action: 'The only option is ?source=auto|bundled|system.' });
  }
  const fromQuery = params.get('source') ?? undefined;
  const source = fromQuery === undefined ? undefined : parseSource(fromQuery, `The source in '${spec}'`);
  return openFashionMnist(split as FashionMnistSplit, { source, mean: opts.mean, std: opts.std, env: opts.env });
}

/**
 * Checks that a data set can feed a model: each sample's shape must equal the model input's
 * non-batch dims (symbolic or unknown dims match anything), and every label must be < numClasses.
 */
export function checkDatasetFits(ds: Dataset, inputShape: (number | string | null)[], numClasses?: number): void {
  const modelSample = inputShape.slice(1);
  const fits =
    inputShape.length > 0 &&
    modelSample.length === ds.sampleShape.length &&
    // Non-positive dims are what exporters write for "unknown", so treat them like symbols.
    modelSample.every((d, i) => typeof d !== 'number' || d <= 0 || d === ds.sampleShape[i]);
  if (!fits) {
    const show = (dims: (number | string | null)[]): string => `[${dims.map((d) => (d === null ? '?' : String(d))).join(', ')}]`;
    const noChannel = modelSample.length === ds.sampleShape.length + 1 && modelSample[0] === 1;
    throw new InvalidDataError(
      `Data ${ds.name} has samples of shape ${show(ds.sampleShape)}, but the model input ${show(inputShape)} takes samples of shape ${show(modelSample)}.`,
      {
        action: noChannel
          ? 'Add the channel axis, e.g. x[:, None] for grey images, and save again.'
          : `Use data whose samples are ${show(modelSample)} (after the batch dim), or a model whose input is ${show(['N', ...ds.sampleShape])}.`,
      },
    );
  }
  if (numClasses === undefined || !ds.hasLabels) return;
  const bad = findLabelAtLeast(ds, numClasses);
  if (bad !== undefined) {
    throw new InvalidDataError(`Data ${ds.name} has label ${bad.label} at sample ${bad.index}, but the model has ${numClasses} classes (labels 0-${numClasses - 1}).`, {
      action: 'Use labels that are class indices of this model, or a model with as many outputs as the data has classes.',
    });
  }
}

function findLabelAtLeast(ds: Dataset, numClasses: number): { index: number; label: number } | undefined {
  if (ds.labels !== undefined) {
    const index = ds.labels.findIndex((v) => v >= numClasses);
    return index < 0 ? undefined : { index, label: ds.labels[index] };
  }
  // No label array up front: walk the batches (decodes the samples too, but only one batch at a time). Only
  // sources that yield synchronously lack one; image folders know their labels before decoding anything.
  const batches = ds.batches(1024);
  if (!(Symbol.iterator in batches)) return undefined;
  let seen = 0;
  for (const batch of batches) {
    const y = batch.y!;
    const k = y.findIndex((v) => v >= numClasses);
    if (k >= 0) return { index: seen + k, label: y[k] };
    seen += y.length;
  }
  return undefined;
}
