export type { Batch, BatchOptions, Dataset, SampleSource } from './dataset.js';
export { InMemoryDataset, batchOrder } from './dataset.js';
export { holdOut } from './hold-out.js';
export { mulberry32, shuffleInPlace, shuffledIndices, type Rng } from './random.js';
export { parseIdx, readIdxFile, type IdxArray, type IdxData, type IdxDtype } from './idx.js';
export { encodeNpy, parseNpy, readNpyFile, writeNpyFile, type NpyArray, type NpyData, type NpyDtype } from './npy.js';
export { parseNpz, readNpzFile, npzArrayNames } from './npz.js';
export { resolveNormalization, uint8Tables, type Normalization } from './normalize.js';
export {
  FASHION_MNIST_BUNDLED_DIR,
  FASHION_MNIST_CLASSES,
  FASHION_MNIST_FULL_SIZE,
  FASHION_MNIST_SYSTEM_DIR,
  locateFashionMnist,
  openFashionMnist,
  type FashionMnistLocation,
  type FashionMnistOptions,
  type FashionMnistSource,
  type FashionMnistSplit,
} from './fashion-mnist.js';
export { datasetFromArrays, openNpyDataset, openNpzDataset, type ArraySources } from './npy-dataset.js';
export { checkDatasetFits, openDataset, type OpenDatasetOptions } from './open-dataset.js';
export {
  PREPROCESS_KEYS,
  isBuiltinImageSpec,
  readPreprocessKey,
  resolvePreprocess,
  withPreprocess,
  type PreprocessSource,
  type ResolvedPreprocess,
} from './model-preprocess.js';
