import { InvalidModelError } from '../errors/index.js';
import type { Model } from '../graph/index.js';
import { isImageSource } from './image-dataset.js';

/**
 * Metadata keys under which a model records the pixel normalisation it was trained with
 * (comma-separated numbers, one per channel). gating/format.ts names the same keys in META; they are
 * repeated here because data sits below pg in the layering and must not import it.
 */
export const PREPROCESS_KEYS = { mean: 'pg.preprocess.mean', std: 'pg.preprocess.std' } as const;

/** Where a normalisation value came from, so commands can say it. */
export type PreprocessSource = 'flag' | 'model' | 'none';

export interface ResolvedPreprocess {
  mean?: number[];
  std?: number[];
  source: { mean: PreprocessSource; std: PreprocessSource };
}

/** The built-in image data sets and image folders take --mean/--std; array files are used as they are (see openDataset). */
const BUILTIN_SPEC = /^fashion-mnist(?:[:?]|$)/;

export function isBuiltinImageSpec(spec: string): boolean {
  return BUILTIN_SPEC.test(spec);
}

/**
 * The normalisation to open `spec` with for `model`: flags win, per key; otherwise what the model's
 * metadata records, but only for image data (built in, or a folder or list of image files), since array
 * files must not be normalised again.
 * A metadata key is parsed only when it is used, so a malformed key that a flag overrides does no harm.
 */
export function resolvePreprocess(model: Model, spec: string, flags: { mean?: number[]; std?: number[] }): ResolvedPreprocess {
  const useModel = isBuiltinImageSpec(spec) || isImageSource(spec);
  const pick = (key: 'mean' | 'std'): { values?: number[]; source: PreprocessSource } => {
    const flag = flags[key];
    if (flag !== undefined) return { values: flag, source: 'flag' };
    if (!useModel) return { source: 'none' };
    const values = readPreprocessKey(model, key);
    return values === undefined ? { source: 'none' } : { values, source: 'model' };
  };
  const mean = pick('mean');
  const std = pick('std');
  return {
    ...(mean.values === undefined ? {} : { mean: mean.values }),
    ...(std.values === undefined ? {} : { std: std.values }),
    source: { mean: mean.source, std: std.source },
  };
}

/** Parses one preprocess key of the model's metadata; undefined when absent. */
export function readPreprocessKey(model: Model, key: 'mean' | 'std'): number[] | undefined {
  const metaKey = PREPROCESS_KEYS[key];
  const raw = model.metadata[metaKey];
  if (raw === undefined || raw.trim() === '') return undefined;
  const values = raw.split(',').map((s) => Number(s.trim()));
  if (values.some((v) => !Number.isFinite(v)) || (key === 'std' && values.some((v) => v <= 0))) {
    throw new InvalidModelError(`${model.sourcePath ?? 'The model'} has metadata ${metaKey}='${raw}', which is not a list of ${key === 'std' ? 'positive ' : ''}numbers.`, {
      action: `Pass --${key} explicitly to override it.`,
    });
  }
  return values;
}

/** Records the normalisation in the model's metadata (for models that pg writes from data it normalised). */
export function withPreprocess(model: Model, norm: { mean?: number[]; std?: number[] }): Model {
  const metadata = { ...model.metadata };
  if (norm.mean !== undefined) metadata[PREPROCESS_KEYS.mean] = norm.mean.join(',');
  if (norm.std !== undefined) metadata[PREPROCESS_KEYS.std] = norm.std.join(',');
  return { ...model, metadata };
}
