import * as tf from '@tensorflow/tfjs-core';
import type { ConstTensor, TensorData } from '../graph/index.js';
import { UnsupportedModelError } from '../errors/index.js';

/**
 * An IR constant as a tfjs tensor. tfjs has no 64-bit types: int64 becomes int32 (checked for range,
 * since int64 initializers are shapes and indices in practice) and float64 becomes float32.
 */
export function toTfTensor(ct: ConstTensor): tf.Tensor {
  const data = ct.data();
  switch (ct.dtype) {
    case 'float32':
      return tf.tensor(data as Float32Array, ct.dims, 'float32');
    case 'float16':
    case 'float64':
      return tf.tensor(Float32Array.from(data as Float64Array), ct.dims, 'float32');
    case 'int64':
    case 'uint64':
      return tf.tensor(int64ToInt32(data as BigInt64Array), ct.dims, 'int32');
    case 'int32':
      return tf.tensor(data as Int32Array, ct.dims, 'int32');
    case 'int8':
    case 'uint8':
    case 'int16':
    case 'uint16':
    case 'uint32':
      return tf.tensor(Int32Array.from(data as Int8Array), ct.dims, 'int32');
    case 'bool':
      return tf.tensor(Int32Array.from(data as Uint8Array), ct.dims, 'bool');
    default:
      throw new UnsupportedModelError(`tensor '${ct.name}' has type ${ct.dtype}, which pg cannot compute with`, {
        action: 'remove string tensors from the model before using pg',
      });
  }
}

/** Integer values of a constant (shapes, axes, indices). */
export function constInts(ct: ConstTensor): number[] {
  const data: TensorData = ct.data();
  if (Array.isArray(data)) throw new UnsupportedModelError(`tensor '${ct.name}' holds strings where numbers are expected`);
  return Array.from(data as ArrayLike<number | bigint>, (v) => Number(v));
}

function int64ToInt32(data: BigInt64Array | BigUint64Array): Int32Array {
  const out = new Int32Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    // Exporters write INT64_MAX/MIN as "to the end" in Slice; clamp those rather than reject them.
    if (v > 2147483647n) out[i] = 2147483647;
    else if (v < -2147483648n) out[i] = -2147483648;
    else out[i] = Number(v);
  }
  return out;
}
