import { Flags } from '@oclif/core';
import { BACKENDS, UsageError, type BackendName } from '@pg/core';

/** Bounds of a numeric flag; messages name them so the user sees the allowed range. */
export interface NumberBounds {
  integer?: boolean;
  min?: number;
  /** Exclusive lower bound (e.g. a learning rate must be > 0). */
  above?: number;
  max?: number;
  /** Exclusive upper bound (e.g. a sparsity must be < 1). */
  below?: number;
}

/** Parses one flag value; the thrown message omits the flag name because oclif prefixes it. */
export function parseNumber(input: string, bounds: NumberBounds = {}): number {
  const value = input.trim() === '' ? Number.NaN : Number(input);
  const kind = bounds.integer ? 'an integer' : 'a number';
  if (!Number.isFinite(value) || (bounds.integer && !Number.isInteger(value))) {
    throw new UsageError(`expected ${kind}, got '${input}'`);
  }
  const limits: string[] = [];
  if (bounds.min !== undefined) limits.push(`>= ${bounds.min}`);
  if (bounds.above !== undefined) limits.push(`> ${bounds.above}`);
  if (bounds.max !== undefined) limits.push(`<= ${bounds.max}`);
  if (bounds.below !== undefined) limits.push(`< ${bounds.below}`);
  const ok =
    (bounds.min === undefined || value >= bounds.min) &&
    (bounds.above === undefined || value > bounds.above) &&
    (bounds.max === undefined || value <= bounds.max) &&
    (bounds.below === undefined || value < bounds.below);
  if (!ok) throw new UsageError(`expected ${kind} ${limits.join(' and ')}, got ${input}`);
  return value;
}

/** A numeric flag with bounds checked at parse time (so a bad value is a usage error before any work). */
export function numberFlag(bounds: NumberBounds = {}) {
  return Flags.custom<number>({ parse: async (input) => parseNumber(input, bounds) });
}

/** A numeric flag that also takes `none` for "no value" (`--target-sparsity none`). */
export function numberOrNoneFlag(bounds: NumberBounds = {}) {
  return Flags.custom<number | 'none'>({
    parse: async (input) => {
      if (input === 'none') return 'none';
      try {
        return parseNumber(input, bounds);
      } catch (e) {
        throw new UsageError(`expected 'none' or ${(e as Error).message.replace(/^expected /, '')}`);
      }
    },
  });
}

/**
 * Per-channel values: `--mean 0.5,0.4,0.3` or `--mean 0.5 --mean 0.4 ...`. Non-greedy, so a value list
 * never swallows the MODEL argument that follows it.
 */
export const numberListFlag = Flags.custom<number>({
  multiple: true,
  multipleNonGreedy: true,
  delimiter: ',',
  parse: async (input) => parseNumber(input),
});

/** Node names: `--include a,b` or `--include a --include b`. */
export const nameListFlag = Flags.custom<string>({ multiple: true, multipleNonGreedy: true, delimiter: ',' });

/** A positive integer flag (counts: steps, batches, samples). */
export const countFlag = numberFlag({ integer: true, min: 1 });

/**
 * Sets the `--help` section of every flag of a group (oclif prints `<NAME> FLAGS`), so a command's help
 * reads by topic however the groups are spread into it.
 */
export function inHelpGroup<T extends Record<string, object>>(name: string, flags: T): T {
  return Object.fromEntries(Object.entries(flags).map(([k, f]) => [k, { ...f, helpGroup: name }])) as T;
}

/**
 * A flag that was renamed: hidden from help, and refused with a usage error that names the new flag, so
 * an old command line fails at once and says what to write. pg keeps one spelling per idea rather than
 * aliases that would keep the old names alive in scripts, docs and tests.
 */
export function renamedFlag(now: string) {
  return Flags.string({
    hidden: true,
    parse: async (input) => {
      throw new UsageError(`this flag is now ${now}.`, { action: `Write ${now} ${input} instead.` });
    },
  });
}

/**
 * The value of --backend: a TensorFlow.js backend. `moved` maps values that another flag of the command
 * takes to that flag (`pg export --backend onnx` is `--format onnx`); they are refused with a usage error
 * naming it. The thrown message omits the flag name because oclif prefixes it.
 */
export function parseBackend(input: string, moved: Readonly<Record<string, string>> = {}): BackendName {
  const backend = BACKENDS.find((b) => b === input);
  if (backend !== undefined) return backend;
  const now = moved[input];
  if (now !== undefined) {
    throw new UsageError(`'${input}' is not a TensorFlow.js backend (${BACKENDS.join(', ')}): use ${now}.`, {
      action: `Write ${now} instead of --backend ${input}.`,
    });
  }
  throw new UsageError(`expected one of ${BACKENDS.join(', ')}, got '${input}'`);
}

/** The global --backend flag (every command has it; see parseBackend for `moved`). */
export function backendFlag(moved: Readonly<Record<string, string>> = {}) {
  return Flags.custom<BackendName>({
    helpValue: BACKENDS.join('|'),
    default: 'wasm',
    helpGroup: 'GLOBAL',
    summary: 'TensorFlow.js backend that runs the model.',
    description: 'wasm is the default and fast; cpu is a slow fallback; node needs @tensorflow/tfjs-node with its native binary.',
    parse: async (input) => parseBackend(input, moved),
  })();
}

const DATA_SPEC_HELP =
  'fashion-mnist:train or fashion-mnist:test (built in; add ?source=bundled for the subset shipped with pg), ' +
  'a folder of JPEG/PNG images with one subfolder per class, a .csv/.tsv file of image paths and labels, ' +
  'a .npz file with arrays x (N×C×H×W float32) and y (labels), or a .npy file of samples with --labels.';

/** An image size: `224` (square) or `224x160` (height × width). The thrown message omits the flag name because oclif prefixes it. */
export function parseImageSize(input: string): { height: number; width: number } {
  const m = /^\s*(\d+)\s*(?:[x×]\s*(\d+)\s*)?$/i.exec(input);
  const [height, width] = m === null ? [0, 0] : [Number(m[1]), Number(m[2] ?? m[1])];
  if (!(height >= 1 && width >= 1 && Number.isSafeInteger(height) && Number.isSafeInteger(width))) {
    throw new UsageError(`expected a size in pixels such as 224 or 224x160 (height x width), got '${input}'`);
  }
  return { height, width };
}

const dataSpec = {
  helpValue: 'SPEC',
  summary: 'Data set to use.',
  description: DATA_SPEC_HELP + ' See docs/data.md.',
};

/** --labels, --mean, --std and the image flags: meaningful only with --data (see requireDataFor). */
const dataCompanions = {
  labels: Flags.string({
    helpValue: 'FILE',
    summary: 'Labels (.npy, N integers) for --data x.npy.',
  }),
  mean: numberListFlag({
    helpValue: 'M',
    summary: "Per-channel mean for image data (built in, or image files), after scaling pixels to [0, 1]. Default: the model's pg.preprocess.mean.",
  }),
  std: numberListFlag({
    helpValue: 'S',
    summary: "Per-channel std for image data. Default: the model's pg.preprocess.std.",
  }),
  resize: numberFlag({ integer: true, min: 1 })({
    helpValue: 'N',
    summary: 'Image files: resize the short side to N pixels before the centre crop. Default: round(crop·256/224) for inputs of 128 pixels or more, else the crop size.',
  }),
  crop: Flags.custom<{ height: number; width: number }>({ parse: async (input) => parseImageSize(input) })({
    helpValue: 'SIZE',
    summary: "Image files: centre-crop SIZE or HxW pixels. Default: the model input's height and width.",
  }),
  'skip-bad': Flags.boolean({
    summary: 'Image files: skip images that cannot be read or decoded (the output counts them) instead of stopping at the first.',
  }),
};

/** --data and its companions, for commands that cannot work without data. */
export const requiredDataFlags = { data: Flags.string({ ...dataSpec, required: true }), ...dataCompanions };

/** --data and its companions, for commands that use data when given. */
export const optionalDataFlags = { data: Flags.string(dataSpec), ...dataCompanions };

/**
 * For commands where --data is optional: its companions alone would be silently ignored, so refuse them.
 * (oclif's dependsOn would do this too, but garbles the usage line into "(--labels FILE --data SPEC)".)
 */
export function requireDataFor(flags: { data?: string; labels?: string; mean?: number[]; std?: number[]; resize?: number; crop?: object; 'skip-bad'?: boolean }): void {
  if (flags.data !== undefined) return;
  const given = (['labels', 'mean', 'std', 'resize', 'crop', 'skip-bad'] as const).filter((k) => flags[k] !== undefined && flags[k] !== false).map((k) => `--${k}`);
  if (given.length > 0) {
    throw new UsageError(`${given.join(', ')} ${given.length === 1 ? 'applies' : 'apply'} only with --data.`, { action: 'Add --data SPEC, or leave them out.' });
  }
}

/** --eval-data and --eval-labels: held-out data, in the same forms as --data. */
export const evalDataFlags = {
  'eval-data': Flags.string({ helpValue: 'SPEC', summary: 'Held-out data to measure on (same forms as --data).' }),
  'eval-labels': Flags.string({ helpValue: 'FILE', summary: 'Labels (.npy) for --eval-data x.npy.' }),
};

/** --eval-labels alone would be silently ignored: refuse it. */
export function requireEvalDataFor(flags: { 'eval-data'?: string; 'eval-labels'?: string }): void {
  if (flags['eval-labels'] !== undefined && flags['eval-data'] === undefined) {
    throw new UsageError('--eval-labels applies only with --eval-data.', { action: 'Add --eval-data x.npy, or leave --eval-labels out.' });
  }
}

/** -o/--output and --force for commands that write a model. */
export const outputFlags = {
  output: Flags.string({
    char: 'o',
    required: true,
    helpValue: 'FILE',
    summary: 'The file to write (replaced atomically if it exists).',
  }),
  force: Flags.boolean({
    default: false,
    summary: 'Allow --output to be the input model itself.',
  }),
};

const DURATION_UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * A duration such as `90s`, `10m`, `1h30m` or `500ms`; a bare number is seconds. Returns milliseconds.
 * Zero is allowed: `pg sweep --time-budget 0` starts no point and only rewrites its summary.
 * The thrown message omits the flag name because oclif prefixes it.
 */
export function parseDuration(input: string): number {
  const text = input.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000;
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  const ms = parts.reduce((a, p) => a + Number(p[1]) * DURATION_UNITS_MS[p[2]], 0);
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== text || !(ms >= 0)) {
    throw new UsageError(`expected a duration such as 90s, 10m or 1h30m, got '${input}'`);
  }
  return ms;
}

/** A duration flag (value in milliseconds), checked at parse time. */
export const durationFlag = Flags.custom<number>({ parse: async (input) => parseDuration(input) });

/**
 * `--first-layer-bits N|float` (convert, sweep): the first layer's bits (activations and weights), or `float`
 * to keep it float as the method does. The thrown message omits the flag name because oclif prefixes it; the
 * range is checked with the other widths (validateBits).
 */
export const firstLayerBitsFlag = Flags.custom<number | 'float'>({
  helpValue: 'N|float',
  parse: async (input) => {
    if (input.trim() === 'float') return 'float';
    if (!/^\s*[+-]?\d+\s*$/.test(input)) throw new UsageError(`expected a number of bits or 'float', got '${input}'`);
    return parseNumber(input, { integer: true });
  },
});

/** The first layer's bits for convertModel: undefined keeps it float. */
export const firstLayerBitsOption = (flag: number | 'float'): number | undefined => (flag === 'float' ? undefined : flag);
