import { Flags } from '@oclif/core';
import { UsageError } from '@pg/core';

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

const DATA_SPEC_HELP =
  'fashion-mnist:train or fashion-mnist:test (built in; add ?source=bundled for the subset shipped with pg), ' +
  'a .npz file with arrays x (N×C×H×W float32) and y (labels), or a .npy file of samples with --labels.';

const dataSpec = {
  helpValue: 'SPEC',
  summary: 'Data set to use.',
  description: DATA_SPEC_HELP + ' See docs/data.md.',
};

/** --labels, --mean, --std: meaningful only with --data (see requireDataFor). */
const dataCompanions = {
  labels: Flags.string({
    helpValue: 'FILE',
    summary: 'Labels (.npy, N integers) for --data x.npy.',
  }),
  mean: numberListFlag({
    helpValue: 'M',
    summary: "Per-channel mean for built-in image data, after scaling pixels to [0, 1]. Default: the model's pg.preprocess.mean.",
  }),
  std: numberListFlag({
    helpValue: 'S',
    summary: "Per-channel std for built-in image data. Default: the model's pg.preprocess.std.",
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
export function requireDataFor(flags: { data?: string; labels?: string; mean?: number[]; std?: number[] }): void {
  if (flags.data !== undefined) return;
  const given = (['labels', 'mean', 'std'] as const).filter((k) => flags[k] !== undefined).map((k) => `--${k}`);
  if (given.length > 0) {
    throw new UsageError(`${given.join(', ')} ${given.length === 1 ? 'applies' : 'apply'} only with --data.`, { action: 'Add --data SPEC, or leave them out.' });
  }
}

/** -o/--output and --force for commands that write a model. */
export const outputFlags = {
  output: Flags.string({
    char: 'o',
    required: true,
    helpValue: 'FILE',
    summary: 'Where to write the model (replaced atomically if it exists).',
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
