/** Element types pg keeps in its IR; names follow TensorFlow.js / numpy spelling. */
export type DataType = 'float32' | 'float64' | 'float16' | 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'int64' | 'uint32' | 'uint64' | 'bool' | 'string';

export type TensorData = Float32Array | Float64Array | Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | BigInt64Array | BigUint64Array | string[];

/**
 * A constant tensor (initializer, Constant value, attribute tensor). `data` is read on first use for
 * tensors stored in external files, so large models are not decoded before they are needed.
 */
export interface ConstTensor {
  name: string;
  dtype: DataType;
  dims: number[];
  /** Raw values in row-major order; float16 is widened to Float32Array on load. */
  data(): TensorData;
  /** Where the bytes live when the tensor came from (or should go to) an external data file. */
  external?: ExternalRef;
}

export interface ExternalRef {
  /** File name relative to the model's folder. */
  location: string;
  offset: number;
  length: number;
}

export function numElements(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/** An in-memory tensor with its data already at hand. */
export function constTensor(name: string, dtype: DataType, dims: number[], data: TensorData): ConstTensor {
  return { name, dtype, dims, data: () => data };
}
