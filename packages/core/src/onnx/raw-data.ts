import { endianness } from 'node:os';
import type { DataType, TensorData } from '../graph/tensor.js';
import { storageBytes } from '../graph/dtype.js';
import { narrowToFloat16, widenFloat16 } from './float16.js';

export type NumericDataType = Exclude<DataType, 'string'>;

// ONNX raw_data is little-endian; typed arrays use the host order, so big-endian hosts swap bytes.
const HOST_LE = endianness() === 'LE';

/**
 * Typed data from ONNX little-endian storage bytes (`bytes.length` must be `count * storageBytes`).
 * Views the bytes without copying when they are suitably aligned; protobuf fields sit at arbitrary
 * offsets in the file buffer, so unaligned ones are copied first (typed arrays need aligned offsets).
 */
export function decodeRaw(dtype: NumericDataType, bytes: Uint8Array, count: number): TensorData {
  const size = storageBytes(dtype) ?? 1;
  let buf = bytes;
  if (!HOST_LE && size > 1) {
    buf = new Uint8Array(bytes); // copy, never swap the caller's buffer in place
    swapBytes(buf, size);
  } else if (bytes.byteOffset % size !== 0) {
    buf = new Uint8Array(bytes); // `new Uint8Array(x)` copies; Buffer#slice would not
  }
  const { buffer, byteOffset } = buf;
  switch (dtype) {
    case 'float32':
      return new Float32Array(buffer, byteOffset, count);
    case 'float64':
      return new Float64Array(buffer, byteOffset, count);
    case 'float16':
      return widenFloat16(new Uint16Array(buffer, byteOffset, count));
    case 'int8':
      return new Int8Array(buffer, byteOffset, count);
    case 'uint8':
    case 'bool':
      return new Uint8Array(buffer, byteOffset, count);
    case 'int16':
      return new Int16Array(buffer, byteOffset, count);
    case 'uint16':
      return new Uint16Array(buffer, byteOffset, count);
    case 'int32':
      return new Int32Array(buffer, byteOffset, count);
    case 'uint32':
      return new Uint32Array(buffer, byteOffset, count);
    case 'int64':
      return new BigInt64Array(buffer, byteOffset, count);
    case 'uint64':
      return new BigUint64Array(buffer, byteOffset, count);
  }
}

/** ONNX little-endian storage bytes of `data` (float16 narrowed from float32). May view `data` without copying. */
export function encodeRaw(dtype: NumericDataType, data: TensorData): Uint8Array {
  const typed = toStorageArray(dtype, data);
  const bytes = new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
  if (HOST_LE || typed.BYTES_PER_ELEMENT === 1) return bytes;
  const copy = new Uint8Array(bytes);
  swapBytes(copy, typed.BYTES_PER_ELEMENT);
  return copy;
}

type StorageArray = Exclude<TensorData, string[] | Float32Array> | Float32Array;

/** The typed array ONNX stores for `dtype`, converting other element containers when needed. */
function toStorageArray(dtype: NumericDataType, data: TensorData): StorageArray {
  if (Array.isArray(data)) throw new TypeError(`string data given for a ${dtype} tensor`);
  const bigints = data instanceof BigInt64Array || data instanceof BigUint64Array;
  const asNumbers = (): ArrayLike<number> =>
    bigints ? Array.from(data as BigInt64Array | BigUint64Array, Number) : (data as Exclude<StorageArray, BigInt64Array | BigUint64Array>);
  switch (dtype) {
    case 'float16':
      // Float32Array is the IR's form; a Uint16Array is taken as raw half bits.
      return data instanceof Uint16Array ? data : narrowToFloat16(asNumbers());
    case 'int64':
      if (data instanceof BigInt64Array) return data;
      if (data instanceof BigUint64Array) return new BigInt64Array(data.buffer, data.byteOffset, data.length);
      return BigInt64Array.from(asNumbers() as ArrayLike<number>, (v) => BigInt(v));
    case 'uint64':
      if (data instanceof BigUint64Array) return data;
      if (data instanceof BigInt64Array) return new BigUint64Array(data.buffer, data.byteOffset, data.length);
      return BigUint64Array.from(asNumbers() as ArrayLike<number>, (v) => BigInt(v));
    case 'bool':
      return data instanceof Uint8Array ? data : Uint8Array.from(asNumbers(), (v) => (v ? 1 : 0));
    default: {
      const Ctor = ARRAY_OF[dtype];
      return data instanceof Ctor ? data : Ctor.from(asNumbers());
    }
  }
}

const ARRAY_OF = {
  float32: Float32Array,
  float64: Float64Array,
  int8: Int8Array,
  uint8: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
} as const;

function swapBytes(buf: Uint8Array, size: number): void {
  for (let i = 0; i + size <= buf.length; i += size) {
    for (let a = i, b = i + size - 1; a < b; a++, b--) {
      const t = buf[a];
      buf[a] = buf[b];
      buf[b] = t;
    }
  }
}
