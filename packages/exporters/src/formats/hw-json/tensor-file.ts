import { UnsupportedModelError, type ConstTensor, type TensorData } from '@pg/core';
import { HW_TENSOR_ALIGNMENT, type HwDtype, type HwTensorRef } from './format.js';

/**
 * Collects tensors for the binary file: each at an aligned offset, little-endian (TypedArrays are in
 * the platform's byte order; every platform Node.js runs on is little-endian, checked below).
 */
export class TensorFileBuilder {
  private readonly chunks: Uint8Array[] = [];
  private end = 0;

  constructor() {
    if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new Error('pg writes hw-json tensor files on little-endian platforms only');
  }

  add(dtype: HwDtype, shape: number[], data: Exclude<TensorData, string[]>): HwTensorRef {
    const offset = Math.ceil(this.end / HW_TENSOR_ALIGNMENT) * HW_TENSOR_ALIGNMENT;
    if (offset > this.end) this.chunks.push(new Uint8Array(offset - this.end));
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    this.chunks.push(bytes.slice());
    this.end = offset + bytes.byteLength;
    return { offset, bytes: bytes.byteLength, dtype, shape };
  }

  chunksToWrite(): Uint8Array[] {
    return this.chunks;
  }
}

export function floatData(t: ConstTensor): Float32Array {
  const d = t.data();
  if (d instanceof Float32Array) return d;
  if (Array.isArray(d) || d instanceof BigInt64Array || d instanceof BigUint64Array) throw new UnsupportedModelError(`tensor '${t.name}' is not numeric float data`);
  return Float32Array.from(d);
}

/** The narrowest signed integer type that holds every value. */
export function intTensor(values: ArrayLike<number>): { dtype: HwDtype; data: Int8Array | Int16Array | Int32Array | BigInt64Array } {
  let max = 0;
  for (let i = 0; i < values.length; i++) max = Math.max(max, values[i] < 0 ? -values[i] - 1 : values[i]);
  if (max < 2 ** 7) return { dtype: 'int8', data: Int8Array.from(values) };
  if (max < 2 ** 15) return { dtype: 'int16', data: Int16Array.from(values) };
  if (max < 2 ** 31) return { dtype: 'int32', data: Int32Array.from(values) };
  return { dtype: 'int64', data: BigInt64Array.from(Array.from(values, (v) => BigInt(v))) };
}

export function tensorRef(t: ConstTensor, file: TensorFileBuilder, where: string): HwTensorRef {
  const d = t.data();
  if (Array.isArray(d)) throw new UnsupportedModelError(`${where}: tensor '${t.name}' holds strings, which hw-json cannot store`);
  const dtype = t.dtype === 'float16' ? 'float32' : t.dtype;
  return file.add(dtype as HwDtype, t.dims.slice(), d);
}
