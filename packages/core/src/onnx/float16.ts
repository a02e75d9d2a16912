// IEEE 754 half <-> single conversions. The IR widens float16 to float32 on load (every half value is
// exactly representable as a float) and narrows back when writing, so load -> save is bit-exact.
// The array forms work on bit patterns, never on JS numbers: a signaling NaN read into a JS number is
// quieted by the CPU, which would change its bits.

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 bit pattern of a half bit pattern. */
function halfToSingleBits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0;
  if (exp !== 0) return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0;
  if (mant === 0) return sign >>> 0;
  // Subnormal half: normalise the mantissa into a float32 normal.
  let e = 113;
  let m = mant;
  while ((m & 0x400) === 0) {
    m <<= 1;
    e--;
  }
  return (sign | (e << 23) | ((m & 0x3ff) << 13)) >>> 0;
}

/** Half bit pattern of a float32 bit pattern: round to nearest, ties to even; overflow gives infinity. */
function singleToHalfBits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) {
    if (mant === 0) return sign | 0x7c00;
    // Keep the payload's top bits; a payload living only in the low bits still has to stay a NaN.
    const m = mant >>> 13;
    return sign | 0x7c00 | (m === 0 ? 0x200 : m);
  }
  const e = exp - 112; // rebias 127 -> 15
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign; // below half the smallest subnormal: rounds to zero
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && (half & 1) !== 0)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (and reaches infinity at the top).
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1) !== 0)) half++;
  return sign | half;
}

export function halfBitsToFloat(h: number): number {
  u32[0] = halfToSingleBits(h);
  return f32[0];
}

export function floatToHalfBits(value: number): number {
  f32[0] = value;
  return singleToHalfBits(u32[0]);
}

export function widenFloat16(bits: Uint16Array): Float32Array {
  const out = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = halfToSingleBits(bits[i]);
  return new Float32Array(out.buffer);
}

export function narrowToFloat16(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  if (values instanceof Float32Array) {
    const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
    for (let i = 0; i < bits.length; i++) out[i] = singleToHalfBits(bits[i]);
  } else {
    for (let i = 0; i < values.length; i++) out[i] = floatToHalfBits(values[i]);
  }
  return out;
}
