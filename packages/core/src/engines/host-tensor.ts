import type { NpyDtype } from '../data/npy.js';
import type { DataType } from '../graph/index.js';
import { InvalidDataError } from '../errors/index.js';
import type { HostTensor } from './engine.js';

/** Element types a host tensor (and so an .npy file) can have. */
const HOST_DTYPES: ReadonlySet<string> = new Set<NpyDtype>(['float32', 'float64', 'int64', 'int32', 'int16', 'int8', 'uint8', 'bool']);

/** The host dtype of a model tensor of type `dtype`, or undefined when an .npy array cannot hold it. */
export function hostDtypeOf(dtype: DataType): NpyDtype | undefined {
  return HOST_DTYPES.has(dtype) ? (dtype as NpyDtype) : undefined;
}

const INT_RANGE: Partial<Record<NpyDtype, readonly [number, number]>> = {
  int32: [-2147483648, 2147483647],
  int16: [-32768, 32767],
  int8: [-128, 127],
  uint8: [0, 255],
};

/** The values as numbers (int64 beyond 2^53 lose precision; callers range-check first where it matters). */
function numbers(t: HostTensor): ArrayLike<number> {
  return t.dtype === 'int64' ? Array.from(t.data, (v) => Number(v)) : t.data;
}

/**
 * Converts a host tensor to `to`: floats to floats (float64 data is common from numpy), integers and
 * bools to floats, and to integers only what is integral and in range. `what` names the data in errors.
 */
export function castHostTensor(t: HostTensor, to: NpyDtype, what: string): HostTensor {
  if (t.dtype === to) return t;
  const shape = [...t.shape];
  const fail = (index: number, value: number | bigint, why: string): never => {
    throw new InvalidDataError(`${what}: element ${index} (${String(value)}) ${why}, so the ${t.dtype} data cannot become the ${to} the model expects.`, {
      action: `Save the array as ${to} (e.g. np.save(path, x.astype(np.${to === 'bool' ? 'bool_' : to}))).`,
    });
  };
  if (to === 'float32' || to === 'float64') {
    const values = numbers(t);
    return to === 'float32' ? { dtype: to, shape, data: Float32Array.from(values) } : { dtype: to, shape, data: Float64Array.from(values) };
  }
  if (to === 'int64') {
    const out = new BigInt64Array(t.data.length);
    const values = numbers(t);
    for (let i = 0; i < out.length; i++) {
      const v = values[i];
      if (!Number.isInteger(v)) fail(i, v, 'is not an integer');
      out[i] = BigInt(v);
    }
    return { dtype: to, shape, data: out };
  }
  if (to === 'bool') {
    // numpy's astype(bool): any non-zero value is true.
    const values = t.data;
    return { dtype: to, shape, data: Uint8Array.from({ length: values.length }, (_, i) => (values[i] ? 1 : 0)) };
  }
  const [lo, hi] = INT_RANGE[to]!;
  const out =
    to === 'int32' ? new Int32Array(t.data.length) : to === 'int16' ? new Int16Array(t.data.length) : to === 'int8' ? new Int8Array(t.data.length) : new Uint8Array(t.data.length);
  for (let i = 0; i < out.length; i++) {
    const raw = t.data[i];
    if (typeof raw === 'bigint') {
      if (raw < BigInt(lo) || raw > BigInt(hi)) fail(i, raw, `is outside ${lo}..${hi}`);
      out[i] = Number(raw);
      continue;
    }
    if (!Number.isInteger(raw)) fail(i, raw, 'is not an integer');
    if (raw < lo || raw > hi) fail(i, raw, `is outside ${lo}..${hi}`);
    out[i] = raw;
  }
  return { dtype: to, shape, data: out } as HostTensor;
}
