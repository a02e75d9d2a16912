import type { DataType } from './tensor.js';

// ONNX's element-type codes belong to the IR: attributes keep them as numbers (Cast's `to`), and both the
// ONNX codec and the interpreter's kernels read them.

/** ONNX TensorProto.DataType codes of the element types pg keeps. */
const ONNX_TO_IR: ReadonlyMap<number, DataType> = new Map<number, DataType>([
  [1, 'float32'],
  [2, 'uint8'],
  [3, 'int8'],
  [4, 'uint16'],
  [5, 'int16'],
  [6, 'int32'],
  [7, 'int64'],
  [8, 'string'],
  [9, 'bool'],
  [10, 'float16'],
  [11, 'float64'],
  [12, 'uint32'],
  [13, 'uint64'],
]);

const IR_TO_ONNX: ReadonlyMap<DataType, number> = new Map([...ONNX_TO_IR].map(([code, dt]) => [dt, code]));

/** ONNX names of all codes up to ONNX 1.17, so messages about unsupported types are readable. */
const ONNX_NAMES = [
  'UNDEFINED',
  'FLOAT',
  'UINT8',
  'INT8',
  'UINT16',
  'INT16',
  'INT32',
  'INT64',
  'STRING',
  'BOOL',
  'FLOAT16',
  'DOUBLE',
  'UINT32',
  'UINT64',
  'COMPLEX64',
  'COMPLEX128',
  'BFLOAT16',
  'FLOAT8E4M3FN',
  'FLOAT8E4M3FNUZ',
  'FLOAT8E5M2',
  'FLOAT8E5M2FNUZ',
  'UINT4',
  'INT4',
  'FLOAT4E2M1',
];

/** The IR type of an ONNX element type code, or undefined if pg has no IR type for it (bfloat16, complex, float8...). */
export function dataTypeFromOnnx(code: number): DataType | undefined {
  return ONNX_TO_IR.get(code);
}

export function dataTypeToOnnx(dtype: DataType): number {
  const code = IR_TO_ONNX.get(dtype);
  if (code === undefined) throw new TypeError(`unknown IR data type '${dtype}'`);
  return code;
}

export function onnxTypeName(code: number): string {
  return ONNX_NAMES[code] ?? `element type ${code}`;
}

/** Bytes per element as stored in ONNX raw_data (float16 is 2 even though the IR widens it); undefined for string. */
export function storageBytes(dtype: DataType): number | undefined {
  switch (dtype) {
    case 'bool':
    case 'int8':
    case 'uint8':
      return 1;
    case 'int16':
    case 'uint16':
    case 'float16':
      return 2;
    case 'int32':
    case 'uint32':
    case 'float32':
      return 4;
    case 'int64':
    case 'uint64':
    case 'float64':
      return 8;
    case 'string':
      return undefined;
  }
}
