export type { Batch, BatchOptions, BatchStream, Dataset, SampleSource } from './dataset.js';
export { InMemoryDataset, batchOrder, collectBatches, firstBatch, labelsPerSample, sampleOrder } from './dataset.js';
export { holdOut } from './hold-out.js';
export { checkTokenIds, datasetForInput, rowSequences, tokenVocabulary } from './sequence-view.js';
export { dataSlice, shardRange, type SampleRange } from './shard.js';
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
export { checkDatasetFits, openDataset, type ImageDataFlags, type OpenDatasetOptions } from './open-dataset.js';
export { PREPROCESS_KEYS, isBuiltinImageSpec, readPreprocessKey, resolvePreprocess, withPreprocess, type PreprocessSource, type ResolvedPreprocess } from './model-preprocess.js';
export { ImageDataset, isImageSource, openImageDataset, type ImageDatasetOptions } from './image-dataset.js';
export { BAD_IMAGE_ACTION, decodeImage, type DecodedImage } from './image-decode.js';
export {
  IMAGENET_LIKE_MIN_SIZE,
  defaultResize,
  describeGeometry,
  imageGeometry,
  resizeCropBox,
  roundHalfEven,
  type ImageGeometry,
  type ImageGeometryFlags,
  type ResizeCropBox,
} from './image-geometry.js';
export { IMAGE_EXTENSIONS, listImageFolder, listImageTable, type ImageList } from './image-list.js';
