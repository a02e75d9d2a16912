import type { onnx as P } from 'onnx-proto';
import { InvalidModelError } from '../errors/pg-error.js';
import { numElements, type ConstTensor, type DataType, type ExternalRef, type TensorData } from '../graph/tensor.js';
import { invalid, unsupported, type DecodeContext } from './context.js';
import { dataTypeFromOnnx, dataTypeToOnnx, onnxTypeName, storageBytes } from '../graph/dtype.js';
import { lazyExternalTensor, parseExternalRef, unloadedExternalBytes } from './external-data.js';
import { widenFloat16 } from './float16.js';
import { int64ToBigInt, int64ToSafeNumber, type Int64 } from './int64.js';
import { onnx } from './proto.js';
import { decodeRaw, encodeRaw, type NumericDataType } from './raw-data.js';

const EXTERNAL = onnx.TensorProto.DataLocation.EXTERNAL;

interface RawState {
  /** The tensor's raw_data: a view into the model file's bytes. */
  raw: Uint8Array;
  decoded?: TensorData;
}

// Keyed by the data function, as in external-data.ts: a transform that swaps `data` loses the fast path.
const rawStates = new WeakMap<() => TensorData, RawState>();

/**
 * The ONNX storage bytes of a tensor whose data was never decoded: its raw_data in the model file, or its
 * range of the external data file (read now, not kept). Saving and scanning a model through these needs
 * no decoded copy of its weights, which for unaligned raw_data would be a second copy of the model.
 */
export function undecodedStorageBytes(t: ConstTensor): Uint8Array | undefined {
  const state = rawStates.get(t.data);
  if (state !== undefined) return state.decoded === undefined ? state.raw : undefined;
  return unloadedExternalBytes(t);
}
const utf8 = new TextDecoder();
const utf8Encoder = new TextEncoder();

/**
 * A TensorProto as a ConstTensor. `subject` names the tensor in messages ("initializer 'W'").
 * raw_data is decoded on the first `data()` call; external data is also read only then.
 */
export function decodeTensor(proto: P.ITensorProto, subject: string, ctx: DecodeContext): ConstTensor {
  const code = proto.dataType ?? 0;
  const dtype = dataTypeFromOnnx(code);
  if (code === 0) throw invalid(ctx, `${subject} has no element type`);
  if (dtype === undefined) {
    throw unsupported(
      ctx,
      `${subject} has element type ${onnxTypeName(code)}, which pg does not support`,
      'Convert the tensor to float32 (or another standard type) before using pg.',
    );
  }
  if (proto.segment) throw unsupported(ctx, `${subject} is a segment of a larger tensor, which pg does not support`, 'Re-export the model without segmented tensors.');
  const dims = (proto.dims ?? []).map((d) => {
    const n = int64ToSafeNumber(d);
    if (n === undefined || n < 0) throw invalid(ctx, `${subject} has an invalid dimension ${String(d)}`);
    return n;
  });
  const count = numElements(dims);
  const name = proto.name ?? '';

  if (proto.dataLocation === EXTERNAL) {
    const bytes = storageBytes(dtype);
    if (bytes === undefined) throw invalid(ctx, `${subject} is a string tensor stored as external data, which ONNX does not allow`);
    const ref = parseExternalRef(proto.externalData ?? [], count * bytes, subject, ctx);
    return lazyExternalTensor(name, dtype, dims, count, ref, subject, ctx);
  }

  const raw = proto.rawData;
  if (raw && raw.length > 0) {
    const size = storageBytes(dtype);
    if (size === undefined || dtype === 'string') throw invalid(ctx, `${subject} is a string tensor with raw_data, which ONNX does not allow`);
    if (raw.length !== count * size) {
      throw invalid(ctx, `${subject} has ${raw.length} bytes of raw_data, but ${onnxTypeName(code)} [${dims.join(', ')}] needs ${count * size}`);
    }
    const numeric: NumericDataType = dtype; // narrowed above; closures do not keep the narrowing
    const state: RawState = { raw };
    const data = (): TensorData => (state.decoded ??= decodeRaw(numeric, raw, count));
    rawStates.set(data, state);
    return { name, dtype, dims, data };
  }

  const data = decodeTypedFields(proto, dtype);
  if (data.length !== count) {
    throw invalid(ctx, `${subject} holds ${data.length} values, but ${onnxTypeName(code)} [${dims.join(', ')}] needs ${count}`);
  }
  return { name, dtype, dims, data: () => data };
}

/** Values from the typed repeated fields; ONNX packs the small integer types and float16 bits into int32_data. */
function decodeTypedFields(proto: P.ITensorProto, dtype: DataType): TensorData {
  const int32 = proto.int32Data ?? [];
  const int64 = (proto.int64Data ?? []) as Int64[];
  const uint64 = (proto.uint64Data ?? []) as Int64[];
  switch (dtype) {
    case 'float32':
      return Float32Array.from(proto.floatData ?? []);
    case 'float64':
      return Float64Array.from(proto.doubleData ?? []);
    case 'float16':
      return widenFloat16(Uint16Array.from(int32));
    case 'int8':
      return Int8Array.from(int32);
    case 'uint8':
      return Uint8Array.from(int32);
    case 'bool':
      return Uint8Array.from(int32, (v) => (v ? 1 : 0));
    case 'int16':
      return Int16Array.from(int32);
    case 'uint16':
      return Uint16Array.from(int32);
    case 'int32':
      return Int32Array.from(int32);
    case 'int64':
      return BigInt64Array.from(int64, (v) => int64ToBigInt(v));
    case 'uint32':
      return Uint32Array.from(uint64, (v) => Number(int64ToBigInt(v, true)));
    case 'uint64':
      return BigUint64Array.from(uint64, (v) => int64ToBigInt(v, true));
    case 'string':
      return (proto.stringData ?? []).map((b) => utf8.decode(b));
  }
}

/** Bytes a tensor takes in ONNX storage, known from its type and shape without reading its data. */
export function tensorByteLength(t: ConstTensor): number | undefined {
  const size = storageBytes(t.dtype);
  return size === undefined ? undefined : numElements(t.dims) * size;
}

/**
 * The ONNX storage bytes of a numeric tensor. An external tensor that was never decoded is copied
 * straight from its data file instead of being decoded and re-encoded.
 */
export function tensorStorageBytes(t: ConstTensor, subject: string): Uint8Array {
  const expected = tensorByteLength(t);
  if (expected === undefined) throw new TypeError(`${subject} is a string tensor and has no raw bytes`);
  const bytes = undecodedStorageBytes(t) ?? encodeRaw(t.dtype as NumericDataType, checkedData(t, subject));
  if (bytes.byteLength !== expected) throw badLength(t, subject, bytes.byteLength / (storageBytes(t.dtype) ?? 1));
  return bytes;
}

/**
 * A ConstTensor as a TensorProto: numbers in raw_data (compact, and what every runtime reads fastest),
 * strings in string_data. With `external`, only the reference is written; the caller stores the bytes.
 */
export function encodeTensor(t: ConstTensor, subject: string, external?: ExternalRef): P.ITensorProto {
  const proto: P.ITensorProto = { dims: t.dims, dataType: dataTypeToOnnx(t.dtype) };
  if (t.name) proto.name = t.name;
  if (external) {
    proto.dataLocation = EXTERNAL;
    proto.externalData = [
      { key: 'location', value: external.location },
      { key: 'offset', value: String(external.offset) },
      { key: 'length', value: String(external.length) },
    ];
  } else if (t.dtype === 'string') {
    const data = checkedData(t, subject);
    if (!Array.isArray(data)) throw new InvalidModelError(`${subject} is a string tensor whose data is not a string array`, { action: BUG_ACTION });
    proto.stringData = data.map((s) => utf8Encoder.encode(s));
  } else {
    proto.rawData = tensorStorageBytes(t, subject);
  }
  return proto;
}

const BUG_ACTION = 'This is a bug in the code that built the tensor; please report it.';

function checkedData(t: ConstTensor, subject: string): TensorData {
  const data = t.data();
  if (data.length !== numElements(t.dims)) throw badLength(t, subject, data.length);
  return data;
}

function badLength(t: ConstTensor, subject: string, got: number): InvalidModelError {
  return new InvalidModelError(`${subject} has ${got} values, but its shape [${t.dims.join(', ')}] needs ${numElements(t.dims)}`, { action: BUG_ACTION });
}
