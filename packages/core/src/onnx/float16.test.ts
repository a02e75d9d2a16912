import { describe, expect, it } from 'vitest';
import { dataTypeFromOnnx, dataTypeToOnnx, onnxTypeName, storageBytes } from '../graph/dtype.js';
import { floatToHalfBits, halfBitsToFloat, narrowToFloat16, widenFloat16 } from './float16.js';

describe('float16', () => {
  it('widens and narrows every half bit pattern exactly (signaling NaNs included)', () => {
    const all = Uint16Array.from({ length: 0x10000 }, (_, i) => i);
    const back = narrowToFloat16(widenFloat16(all));
    const firstDiff = back.findIndex((h, i) => h !== all[i]);
    expect(firstDiff).toBe(-1);
    // Scalar forms agree with the array forms wherever JS numbers keep the bits (all but signaling NaNs).
    for (let h = 0; h < 0x10000; h++) {
      const isSignalingNaN = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0 && (h & 0x200) === 0;
      if (!isSignalingNaN && floatToHalfBits(halfBitsToFloat(h)) !== h) throw new Error(`0x${h.toString(16)}`);
    }
  });

  it('rounds to nearest even and saturates to infinity', () => {
    expect(halfBitsToFloat(0x3c00)).toBe(1);
    expect(halfBitsToFloat(0xc000)).toBe(-2);
    expect(halfBitsToFloat(0x0001)).toBe(2 ** -24);
    expect(halfBitsToFloat(0x7bff)).toBe(65504);
    expect(floatToHalfBits(1 + 2 ** -11)).toBe(0x3c00); // tie, rounds to even (down)
    expect(floatToHalfBits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie, rounds to even (up)
    expect(floatToHalfBits(65520)).toBe(0x7c00);
    expect(floatToHalfBits(2 ** -25)).toBe(0); // tie between 0 and the smallest subnormal
    expect(floatToHalfBits(2 ** -25 * 1.5)).toBe(1);
    expect(floatToHalfBits(-0)).toBe(0x8000);
    expect(Number.isNaN(halfBitsToFloat(floatToHalfBits(NaN)))).toBe(true);
  });
});

describe('dtype', () => {
  it('maps ONNX codes both ways and names unsupported ones', () => {
    for (let code = 1; code <= 13; code++) expect(dataTypeToOnnx(dataTypeFromOnnx(code)!)).toBe(code);
    expect(dataTypeFromOnnx(16)).toBeUndefined();
    expect(onnxTypeName(16)).toBe('BFLOAT16');
    expect(storageBytes('float16')).toBe(2);
    expect(storageBytes('string')).toBeUndefined();
  });
});
