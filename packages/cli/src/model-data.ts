import {
  checkDatasetFits,
  checkTokenIds,
  datasetForInput,
  tokenVocabulary,
  ImageDataset,
  InvalidModelError,
  openDataset,
  resolvePreprocess,
  type Dataset,
  type Dim,
  type Model,
  type ResolvedPreprocess,
} from '@pg/core';

/** What the data flags of a command hold once parsed. */
export interface DataFlagValues {
  data: string;
  labels?: string;
  mean?: number[];
  std?: number[];
  resize?: number;
  crop?: { height: number; width: number };
  'skip-bad'?: boolean;
}

export interface ModelData {
  dataset: Dataset;
  preprocess: ResolvedPreprocess;
}

/**
 * Opens `--data` for `model`: normalisation from the flags or else the model's metadata, image files decoded to
 * the model input's channels and size, then checks that the samples fit the model's input and the labels its
 * classes, before any long work starts. `warn` hears of a likely mistake that is not an error.
 */
export async function openDataFor(model: Model, flags: DataFlagValues, warn?: (message: string) => void): Promise<ModelData> {
  const preprocess = resolvePreprocess(model, flags.data, flags);
  const input = modelInput(model);
  const opened = await openDataset(flags.data, {
    labels: flags.labels,
    mean: preprocess.mean,
    std: preprocess.std,
    image: { inputShape: input.shape, resize: flags.resize, crop: flags.crop, skipBad: flags['skip-bad'] },
  });
  // A sequence model reads images row by row (an LSTM or a GRU over 28 rows of 28 pixels).
  const dataset = datasetForInput(opened, input.shape);
  const classes = numClasses(model);
  // An input of unknown rank takes anything: let the run itself find a mismatch.
  checkDatasetFits(dataset, input.shape ?? [null, ...dataset.sampleShape], classes);
  const vocabulary = tokenVocabulary(model);
  if (vocabulary !== undefined) checkTokenIds(dataset, vocabulary);
  if (opened instanceof ImageDataset && opened.classes !== undefined && classes !== undefined && opened.numClasses < classes) {
    warn?.(
      `${flags.data} names ${opened.numClasses} classes but the model predicts ${classes}: label i is the i-th class name in sorted order. ` +
        "If these are some of the model's classes, list the images in a .csv with the model's class indices as labels (docs/data.md).",
    );
  }
  return { dataset, preprocess };
}

/** Opens `--eval-data` (with `--eval-labels`, and --data's other companions such as --mean/--std) when given. */
export async function openEvalDataFor(
  model: Model,
  flags: Omit<DataFlagValues, 'data' | 'labels'> & { 'eval-data'?: string; 'eval-labels'?: string },
  warn?: (message: string) => void,
): Promise<ModelData | undefined> {
  const spec = flags['eval-data'];
  return spec === undefined ? undefined : openDataFor(model, { ...flags, data: spec, labels: flags['eval-labels'] }, warn);
}

/** A warning naming the files a data set skipped as unreadable (--skip-bad), or undefined when none was. */
export function skippedFilesWarning(...datasets: (Dataset | undefined)[]): string | undefined {
  const skipped = new Map<string, string>();
  for (const d of datasets) for (const [file, why] of d?.skipped ?? []) skipped.set(file, why);
  if (skipped.size === 0) return undefined;
  const shown = [...skipped.values()].slice(0, SKIPPED_SHOWN);
  const more = skipped.size - shown.length;
  return `Skipped ${skipped.size} unreadable file(s) (--skip-bad): ${shown.join(' ')}${more > 0 ? ` ... and ${more} more.` : ''}`;
}

/** Skipped files named in the warning; the count covers all. */
const SKIPPED_SHOWN = 5;

/** The model's first real input (older exporters also list initializers as graph inputs). */
export function modelInput(model: Model): { name: string; shape?: Dim[] } {
  const input = model.graph.inputs.find((i) => !model.graph.initializers.has(i.name));
  if (input === undefined) {
    throw new InvalidModelError(`${model.sourcePath ?? 'The model'} has no graph input that is not an initializer.`, {
      action: 'Export the model with its data input, e.g. torch.onnx.export(model, example_input, ...).',
    });
  }
  return input;
}

/** Classes the model predicts: the last dim of its first output, when fixed. */
export function numClasses(model: Model): number | undefined {
  const dims = model.graph.outputs[0]?.shape;
  const last = dims?.[dims.length - 1];
  return typeof last === 'number' && last > 0 ? last : undefined;
}

/** One line saying how the data is normalised and where that came from. */
export function describePreprocess(p: ResolvedPreprocess): string {
  const part = (key: 'mean' | 'std'): string | undefined => {
    const values = p[key];
    if (values === undefined) return undefined;
    const from = p.source[key] === 'model' ? "model's metadata" : `--${key}`;
    return `${key} ${values.join(',')} (from ${from})`;
  };
  const parts = [part('mean'), part('std')].filter((s): s is string => s !== undefined);
  return parts.length === 0 ? 'no normalisation' : parts.join(', ');
}
