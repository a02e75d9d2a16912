import { UsageError } from '../errors/index.js';

/** Per-channel normalisation x' = (x - mean[c]) / std[c], applied after scaling pixels to [0, 1]. */
export interface Normalization {
  mean: number[];
  std: number[];
}

/**
 * Checks `--mean`/`--std` against the channel count; a single value applies to every channel.
 * Returns undefined when neither is given (pixels stay in [0, 1]).
 */
export function resolveNormalization(mean: number[] | undefined, std: number[] | undefined, channels: number): Normalization | undefined {
  if (mean === undefined && std === undefined) return undefined;
  const expand = (values: number[] | undefined, flag: string, fallback: number): number[] => {
    if (values === undefined) return new Array<number>(channels).fill(fallback);
    if (values.length !== 1 && values.length !== channels) {
      throw new UsageError(`${flag} has ${values.length} values but the data has ${channels} channel${channels === 1 ? '' : 's'}.`, {
        action: `Give one value, or one per channel (${channels}).`,
      });
    }
    if (values.some((v) => !Number.isFinite(v))) {
      throw new UsageError(`${flag} must be finite numbers, got ${values.join(', ')}.`, { action: `Pass numbers, e.g. ${flag} 0.2860.` });
    }
    return values.length === channels ? [...values] : new Array<number>(channels).fill(values[0]);
  };
  const m = expand(mean, '--mean', 0);
  const s = expand(std, '--std', 1);
  if (s.some((v) => v <= 0)) {
    throw new UsageError(`--std must be positive, got ${s.join(', ')}.`, { action: 'Pass the standard deviation of the pixels, e.g. --std 0.3530.' });
  }
  return { mean: m, std: s };
}

/** For 8-bit pixels: a 256-entry table per channel of the normalised float for each byte value. */
export function uint8Tables(norm: Normalization | undefined, channels: number): Float32Array[] {
  const tables: Float32Array[] = [];
  for (let c = 0; c < channels; c++) {
    const t = new Float32Array(256);
    const mean = norm?.mean[c] ?? 0;
    const std = norm?.std[c] ?? 1;
    for (let v = 0; v < 256; v++) t[v] = (v / 255 - mean) / std;
    tables.push(t);
  }
  return tables;
}
