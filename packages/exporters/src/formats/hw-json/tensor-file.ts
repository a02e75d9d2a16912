import type { TensorData } from '@pg/core';
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
