import { InvalidDataError } from '../errors/index.js';
import type { Dim, Model } from '../graph/index.js';
import type { Batch, BatchOptions, BatchStream, Dataset } from './dataset.js';

// Sequence models read image data row by row (an LSTM classifier taking a 28×28 image as 28 steps of 28
// pixels), and language models read token ids. Both are data sets of the usual kinds, seen differently.

/** An image sample [C, H, W] as H steps of C·W values (each row's pixels, channel after channel). */
function rowsOf(batch: Batch): Batch {
  const [n, c, h, w] = batch.shape;
  if (c === 1) return { ...batch, shape: [n, h, w] };
  const x = new Float32Array(batch.x.length);
  for (let i = 0; i < n; i++) {
    for (let ch = 0; ch < c; ch++) {
      for (let r = 0; r < h; r++) x.set(batch.x.subarray(((i * c + ch) * h + r) * w, ((i * c + ch) * h + r + 1) * w), ((i * h + r) * c + ch) * w);
    }
  }
  return { ...batch, x, shape: [n, h, c * w] };
}

/** A data set of [C, H, W] images read as sequences of their H rows: samples [H, C·W]. */
export function rowSequences(data: Dataset): Dataset {
  const [c, h, w] = data.sampleShape;
  const view: Dataset & { subset?: (indices: Uint32Array, name: string) => Dataset } = {
    name: `${data.name}, read row by row`,
    size: data.size,
    sampleShape: [h, c * w],
    numClasses: data.numClasses,
    hasLabels: data.hasLabels,
    labels: data.labels,
    labelShape: data.labelShape,
    skipped: data.skipped,
    batches(batchSize: number, opts?: BatchOptions): BatchStream {
      const inner = data.batches(batchSize, opts);
      if (Symbol.iterator in inner)
        return (function* () {
          for (const b of inner) yield rowsOf(b);
        })();
      return (async function* () {
        for await (const b of inner) yield rowsOf(b);
      })();
    },
  };
  const subsettable = data as Partial<{ subset(indices: Uint32Array, name: string): Dataset }>;
  if (typeof subsettable.subset === 'function') view.subset = (indices, name) => rowSequences(subsettable.subset!(indices, name));
  return view;
}

/**
 * The data set as the model input takes it: image samples [C, H, W] read row by row when the input is a
 * sequence [N, H, C·W] (and not the images themselves); any other data set as it is (checkDatasetFits judges it).
 */
export function datasetForInput(data: Dataset, inputShape: readonly Dim[] | undefined): Dataset {
  if (!inputShape || inputShape.length !== 3 || data.sampleShape.length !== 3) return data;
  const [c, h, w] = data.sampleShape;
  const fixed = (d: Dim, v: number) => typeof d !== 'number' || d <= 0 || d === v;
  return fixed(inputShape[1], h) && fixed(inputShape[2], c * w) ? rowSequences(data) : data;
}

/**
 * Checks that token ids index the model's vocabulary (`vocabulary` rows of its embedding): every id an integer
 * in 0..vocabulary−1. Reads the samples batch by batch (synchronous sources only; others are checked as they run).
 */
export function checkTokenIds(data: Dataset, vocabulary: number): void {
  const batches = data.batches(1024);
  if (!(Symbol.iterator in batches)) return;
  let seen = 0;
  for (const b of batches) {
    const per = b.x.length / b.shape[0];
    const bad = b.x.findIndex((v) => !(Number.isInteger(v) && v >= 0 && v < vocabulary));
    if (bad >= 0) {
      throw new InvalidDataError(
        `${data.name} has token id ${b.x[bad]} at sample ${seen + Math.floor(bad / per)}, step ${bad % per}, but the model's vocabulary has ${vocabulary} tokens (ids 0-${vocabulary - 1}).`,
        {
          action: "Encode the text with the model's own vocabulary (its metadata pg.vocabulary, when it has one).",
        },
      );
    }
    seen += b.shape[0];
  }
}

/**
 * The vocabulary size of a language model: the rows of the embedding table its integer input indexes (a
 * Gather of an initializer by the input), or undefined for a model whose input is not token ids.
 */
export function tokenVocabulary(model: Model): number | undefined {
  const input = model.graph.inputs.find((i) => !model.graph.initializers.has(i.name));
  if (!input || input.dtype === 'float32' || input.dtype === 'float64' || input.dtype === 'float16') return undefined;
  const lookup = model.graph.nodes.find((n) => n.opType === 'Gather' && n.inputs[1] === input.name && model.graph.initializers.has(n.inputs[0]));
  return lookup ? model.graph.initializers.get(lookup.inputs[0])!.dims[0] : undefined;
}
