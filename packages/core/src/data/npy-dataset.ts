import { InvalidDataError } from '../errors/index.js';
import { inflateSync } from 'fflate';
import { readDataFile, withDataFile } from './data-file.js';
import { InMemoryDataset, type Dataset } from './dataset.js';
import { parseNpy, readNpyFile, type NpyArray } from './npy.js';
import { readZipDirectory } from './zip-directory.js';
import { NpyFileDataset, nonFiniteSample, openNpySampleFile, readNpyLayoutAt } from './npy-file-dataset.js';
import { npzArrayNames, parseNpz } from './npz.js';

/** Where the arrays came from, for names and error messages. */
export interface ArraySources {
  /** e.g. 'x.npy' or 'data.npz:x' */
  x: string;
  /** e.g. 'y.npy' or 'data.npz:y'; absent when there are no labels */
  y?: string;
  /** The data set's name, e.g. 'data.npz' */
  name: string;
}

/**
 * `--data x.npy [--labels y.npy]`: samples N×C×H×W float, labels N integers; used as they are. The
 * samples stay in the file and are read one batch at a time (only the labels are held in memory).
 */
export async function openNpyDataset(dataPath: string, labelsPath?: string): Promise<Dataset> {
  const [x, y] = await Promise.all([openNpySampleFile(dataPath), labelsPath === undefined ? undefined : readNpyFile(labelsPath)]);
  checkSampleLayout(x.layout.shape, x.layout.info.dtype, dataPath);
  const n = x.layout.shape[0];
  const labels = y === undefined ? undefined : checkLabels(y, labelsPath ?? 'labels', n, dataPath, x.layout.shape, x.layout.info.dtype);
  x.checkFinite();
  return new NpyFileDataset(x, labels?.labels, labelsPath === undefined ? dataPath : `${dataPath} + ${labelsPath}`, undefined, undefined, labels?.labelShape);
}

/**
 * `--data file.npz`: array `x` (N×C×H×W float) and optional `y` (N integer labels). When `x` is stored
 * uncompressed (np.savez), it stays in the file and is read batch by batch as from an .npy; a compressed
 * `x` (np.savez_compressed) is decompressed into memory.
 */
export async function openNpzDataset(path: string): Promise<Dataset> {
  const stored = await openStoredNpz(path);
  if (stored !== undefined) return stored;
  const bytes = await readDataFile(path);
  const arrays = parseNpz(bytes, path, ['x', 'y']);
  const x = arrays.get('x');
  if (x === undefined) {
    const found = npzArrayNames(bytes);
    throw new InvalidDataError(`${path} has no array named x (it holds ${found.length === 0 ? 'no arrays' : found.join(', ')}).`, {
      action: 'Save the samples as x and the labels as y: np.savez("data.npz", x=images, y=labels).',
    });
  }
  const y = arrays.get('y');
  return datasetFromArrays(x, y, { x: `${path}:x`, y: y === undefined ? undefined : `${path}:y`, name: path });
}

/** The data set of an .npz whose `x` is stored uncompressed, or undefined to read the file whole instead. */
async function openStoredNpz(path: string): Promise<Dataset | undefined> {
  return withDataFile(path, async (handle, size) => {
    const entries = await readZipDirectory(handle, size, (name) => name === 'x.npy' || name === 'y.npy');
    const xEntry = entries?.find((e) => e.name === 'x.npy');
    if (entries === undefined || xEntry === undefined || xEntry.method !== 0 || xEntry.size !== xEntry.compressedSize) return undefined;
    const x = await readNpyLayoutAt(handle, path, { start: xEntry.dataStart, size: xEntry.size, name: `${path}:x` });
    const yEntry = entries.find((e) => e.name === 'y.npy');
    let y: NpyArray | undefined;
    if (yEntry !== undefined) {
      const raw = new Uint8Array(yEntry.compressedSize);
      await handle.read(raw, 0, raw.length, yEntry.dataStart);
      y = parseNpy(unzipEntry(raw, yEntry.method, `${path}:y.npy`), `${path}:y.npy`);
    }
    checkSampleLayout(x.layout.shape, x.layout.info.dtype, x.name);
    const labels = y === undefined ? undefined : checkLabels(y, `${path}:y`, x.layout.shape[0], x.name, x.layout.shape, x.layout.info.dtype);
    x.checkFinite();
    return new NpyFileDataset(x, labels?.labels, path, undefined, undefined, labels?.labelShape);
  });
}

/** The bytes of a stored (0) or deflated (8) zip entry. */
function unzipEntry(raw: Uint8Array, method: number, name: string): Uint8Array {
  if (method === 0) return raw;
  if (method !== 8) {
    throw new InvalidDataError(`${name} uses zip compression method ${method}; pg reads stored and deflated entries.`, {
      action: 'Save the arrays with numpy.savez or numpy.savez_compressed.',
    });
  }
  try {
    return inflateSync(raw);
  } catch (e) {
    throw new InvalidDataError(`${name} cannot be decompressed: ${(e as Error).message}.`, {
      action: 'The file is probably truncated or corrupt; save or copy it again.',
      cause: e,
    });
  }
}

/** Checks samples and labels and wraps them as a Dataset; no normalisation is applied. */
export function datasetFromArrays(x: NpyArray, y: NpyArray | undefined, where: ArraySources): Dataset {
  const samples = checkSamples(x, where.x);
  const n = x.shape[0];
  const labels = y === undefined ? undefined : checkLabels(y, where.y ?? 'labels', n, where.x, x.shape, x.dtype);
  const sampleShape = x.shape.slice(1);
  const sampleSize = sampleShape.reduce((a, b) => a * b, 1);
  return new InMemoryDataset({
    name: `${where.name} (${n} samples${labels === undefined ? ', no labels' : ''})`,
    size: n,
    sampleShape,
    labels: labels?.labels,
    labelShape: labels?.labelShape,
    writeSample: (i, out, offset) => out.set(samples.subarray(i * sampleSize, (i + 1) * sampleSize), offset),
  });
}

function checkSamples(x: NpyArray, name: string): Float32Array {
  checkSampleLayout(x.shape, x.dtype, name);
  const data = x.dtype === 'float32' ? x.data : Float32Array.from(x.data as ArrayLike<number | bigint>, Number);
  const bad = data.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) throw nonFiniteSample(name, data[bad], Math.floor(bad / (data.length / x.shape[0])), x.dtype);
  return data;
}

/**
 * Samples must be a non-empty float array of N×C×H×W images, N×T×F sequences or N×F vectors, or N×T integer
 * token ids (a language model's input).
 */
function checkSampleLayout(dims: number[], dtype: string, name: string): void {
  const shape = `(${dims.join(', ')})`;
  if (dims.length < 2 || dims.length > 4) {
    throw new InvalidDataError(`${name} has rank ${dims.length} (shape ${shape}); samples must be N×C×H×W images, N×T×F sequences, N×F vectors or N×T token ids.`, {
      action: 'Reshape to one of those, e.g. x.reshape(-1, 1, 28, 28) for 28×28 grey images, and save again.',
    });
  }
  if (dims[0] === 0) {
    throw new InvalidDataError(`${name} is empty (shape ${shape}).`, { action: 'Save at least one sample.' });
  }
  const float = dtype === 'float32' || dtype === 'float64';
  const tokenIds = dims.length === 2 && dtype !== 'bool' && !float;
  if (!float && !tokenIds) {
    throw new InvalidDataError(`${name} has dtype ${dtype}; samples must be float32 (or float64)${dims.length === 2 ? '' : ', or N×T integer token ids'}.`, {
      action: 'Convert and normalise as the model expects before saving, e.g. x.astype(np.float32) / 255; pg uses the values as they are.',
    });
  }
}

/**
 * Labels: one class index per sample ([N]), or, for N×T token ids, the next token of every step ([N, T], a
 * language model's targets), returned flat with their shape per sample.
 */
function checkLabels(y: NpyArray, name: string, n: number, xName: string, xShape?: number[], xDtype?: string): { labels: Int32Array; labelShape?: number[] } {
  if (y.dtype === 'float32' || y.dtype === 'float64' || y.dtype === 'bool') {
    throw new InvalidDataError(`${name} has dtype ${y.dtype}; labels must be integers (class indices).`, {
      action: 'Save class indices, e.g. y.astype(np.int64) (or y.argmax(1) for one-hot labels).',
    });
  }
  const tokens = xShape !== undefined && xShape.length === 2 && xDtype !== 'float32' && xDtype !== 'float64';
  const perStep = tokens && y.shape.length === 2 && y.shape[1] === xShape[1];
  if (y.shape.length !== 1 && !perStep) {
    throw new InvalidDataError(
      `${name} has shape (${y.shape.join(', ')}); labels must be 1-D, one class index per sample${tokens ? `, or (${n}, ${xShape[1]}): the next token of every step of the token ids` : ''}.`,
      { action: y.shape.length === 2 && y.shape[1] !== 1 && !tokens ? 'For one-hot labels save y.argmax(1).' : 'Flatten them: y.reshape(-1).' },
    );
  }
  if (y.shape[0] !== n) {
    throw new InvalidDataError(`${name} has ${y.shape[0]} labels but ${xName} has ${n} samples.`, {
      action: 'Save one label per sample, in the same order.',
    });
  }
  const count = y.shape.reduce((a, b) => a * b, 1);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const v = Number(y.data[i]);
    if (v < 0 || v > 0x7fffffff) {
      throw new InvalidDataError(`${name} has label ${v} at index ${i}; labels must be class indices 0..numClasses-1.`, {
        action: 'Map the labels to 0-based class indices before saving.',
      });
    }
    labels[i] = v;
  }
  return perStep ? { labels, labelShape: [xShape[1]] } : { labels };
}
