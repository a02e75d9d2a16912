import type { onnx as P } from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { InvalidDataError, InvalidModelError, UnsupportedModelError } from '../errors/pg-error.js';
import { constTensor, type ConstTensor, type DataType, type TensorData } from '../graph/tensor.js';
import type { DecodeContext } from './context.js';
import { decodeTensorFile, encodeTensorFile } from './tensor-file.js';
import { decodeTensor, encodeTensor } from './tensor-codec.js';

const ctx = (): DecodeContext => ({ file: 'm.onnx', kind: 'model', externals: [] });
const decode = (p: P.ITensorProto) => decodeTensor(p, "initializer 'x'", ctx());

/** Bytes placed at an odd offset inside a larger buffer, like a field inside a protobuf file. */
function unaligned(bytes: number[]): Uint8Array {
  const buf = new Uint8Array(bytes.length + 1);
  buf.set(bytes, 1);
  return buf.subarray(1);
}

describe('decodeTensor', () => {
  it('reads little-endian raw_data at unaligned offsets', () => {
    const f = new Float32Array([1.5, -2, 3.25]);
    const t = decode({ dataType: 1, dims: [3], rawData: unaligned([...new Uint8Array(f.buffer)]) });
    expect(t.dtype).toBe('float32');
    expect(t.data()).toEqual(f);
    const i = new BigInt64Array([-1n, 2n ** 62n]);
    expect(decode({ dataType: 7, dims: [2], rawData: unaligned([...new Uint8Array(i.buffer)]) }).data()).toEqual(i);
  });

  it('widens float16 raw_data and int32_data bits to float32', () => {
    expect(decode({ dataType: 10, dims: [2], rawData: unaligned([0x00, 0x3c, 0x00, 0xc0]) }).data()).toEqual(new Float32Array([1, -2]));
    expect(decode({ dataType: 10, dims: [2], int32Data: [0x3c00, 0x3800] }).data()).toEqual(new Float32Array([1, 0.5]));
  });

  it('reads every typed field', () => {
    const cases: [P.ITensorProto, TensorData][] = [
      [{ dataType: 1, floatData: [1, 2] }, new Float32Array([1, 2])],
      [{ dataType: 11, doubleData: [0.1, 2] }, new Float64Array([0.1, 2])],
      [{ dataType: 6, int32Data: [-7, 9] }, new Int32Array([-7, 9])],
      [{ dataType: 3, int32Data: [-7, 9] }, new Int8Array([-7, 9])],
      [{ dataType: 2, int32Data: [200, 9] }, new Uint8Array([200, 9])],
      [{ dataType: 5, int32Data: [-300, 9] }, new Int16Array([-300, 9])],
      [{ dataType: 4, int32Data: [60000, 9] }, new Uint16Array([60000, 9])],
      [{ dataType: 9, int32Data: [1, 0] }, new Uint8Array([1, 0])],
      [{ dataType: 7, int64Data: [-5, 2 ** 53] }, new BigInt64Array([-5n, 2n ** 53n])],
      [{ dataType: 12, uint64Data: [4000000000, 1] }, new Uint32Array([4000000000, 1])],
      [{ dataType: 13, uint64Data: [3, 1] }, new BigUint64Array([3n, 1n])],
      [{ dataType: 8, stringData: [new TextEncoder().encode('hé'), new Uint8Array()] }, ['hé', '']],
    ];
    for (const [proto, expected] of cases) expect(decode({ dims: [2], ...proto }).data()).toEqual(expected);
  });

  it('rejects wrong sizes and unsupported types with the tensor name', () => {
    expect(() => decode({ dataType: 1, dims: [3], rawData: new Uint8Array(8) })).toThrow(InvalidModelError);
    expect(() => decode({ dataType: 1, dims: [3], rawData: new Uint8Array(8) })).toThrow(/m\.onnx: initializer 'x' has 8 bytes/);
    expect(() => decode({ dataType: 1, dims: [3], floatData: [1] })).toThrow(/holds 1 values/);
    expect(() => decode({ dataType: 16, dims: [1], rawData: new Uint8Array(2) })).toThrow(UnsupportedModelError);
    expect(() => decode({ dataType: 16, dims: [1], rawData: new Uint8Array(2) })).toThrow(/BFLOAT16/);
    expect(() => decode({ dims: [1] })).toThrow(/no element type/);
    expect(() => decode({ dataType: 1, dims: [-1] })).toThrow(/invalid dimension/);
  });
});

describe('encodeTensor', () => {
  const samples: [DataType, TensorData][] = [
    ['float32', new Float32Array([1.5, NaN, -0])],
    ['float64', new Float64Array([Math.PI, -1e300, Infinity])],
    ['float16', new Float32Array([1, 65504, 2 ** -24])],
    ['int8', new Int8Array([-128, 0, 127])],
    ['uint8', new Uint8Array([0, 128, 255])],
    ['int16', new Int16Array([-32768, 1, 32767])],
    ['uint16', new Uint16Array([0, 1, 65535])],
    ['int32', new Int32Array([-(2 ** 31), 0, 2 ** 31 - 1])],
    ['uint32', new Uint32Array([0, 1, 2 ** 32 - 1])],
    ['int64', new BigInt64Array([-(2n ** 63n), 0n, 2n ** 63n - 1n])],
    ['uint64', new BigUint64Array([0n, 1n, 2n ** 64n - 1n])],
    ['bool', new Uint8Array([1, 0, 1])],
    ['string', ['a', '', 'ü']],
  ];
  it.each(samples)('round-trips %s through a TensorProto file', (dtype, data) => {
    const t = constTensor('t', dtype, [3], data);
    const back = decodeTensorFile(encodeTensorFile(t));
    expect(back.dtype).toBe(dtype);
    expect(back.dims).toEqual([3]);
    expect(back.data()).toEqual(data);
  });

  it('converts other element containers to the storage type', () => {
    const t = constTensor('t', 'int64', [2], new Int32Array([-3, 4]));
    expect(decodeTensorFile(encodeTensorFile(t)).data()).toEqual(new BigInt64Array([-3n, 4n]));
  });

  it('rejects data whose length does not match the shape', () => {
    const t: ConstTensor = constTensor('w', 'float32', [2, 2], new Float32Array(3));
    expect(() => encodeTensor(t, "initializer 'w'")).toThrow(/initializer 'w' has 3 values, but its shape \[2, 2\] needs 4/);
  });

  it('tensor files report bad input as InvalidDataError', () => {
    expect(() => decodeTensorFile(new Uint8Array(), 'in.pb')).toThrow(InvalidDataError);
    expect(() => decodeTensorFile(new Uint8Array([0xff, 0xff, 0xff]), 'in.pb')).toThrow(/in\.pb: the file is not an ONNX tensor file/);
  });
});
