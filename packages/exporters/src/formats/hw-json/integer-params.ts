/**
 * The integer parameters of a quantized layer, computed with the float32 operations pg's quantizer
 * uses (quantizer.ts; Math.fround after each double operation gives the correctly rounded float32
 * result of +, -, *, / on float32 operands), so the codes are exactly the ones pg's weights are made of.
 */

/** Round half to even, as ONNX Round and tf.round. */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

export const levels = (bits: number): number => 2 ** bits - 1;

/** Smallest floor of a scale (pg's SCALE_FLOOR), as float32. */
const SCALE_FLOOR = Math.fround(1e-12);

/**
 * Weight codes k = sign(W) * round(|W| / s_w * n_w), s_w = max(max|W|, 1e-12) (float32), so that
 * pg's quantized weight is W_q = k / n_w * s_w up to float32 rounding.
 */
export function weightCodes(w: ArrayLike<number>, wbits: number): { codes: Int32Array; scale: number } {
  const n = levels(wbits);
  let maxAbs = 0;
  for (let i = 0; i < w.length; i++) maxAbs = Math.max(maxAbs, Math.abs(w[i]));
  const scale = Math.max(Math.fround(maxAbs), SCALE_FLOOR);
  const codes = new Int32Array(w.length);
  for (let i = 0; i < w.length; i++) {
    const k = roundHalfEven(Math.fround(Math.fround(Math.abs(w[i]) / scale) * n));
    codes[i] = w[i] < 0 ? -k : k;
  }
  return { codes, scale };
}

/** Bits (with sign) for any sum of K products of codes up to n and n_w in magnitude. */
export function accumulatorBits(fanIn: number, n: number, nw: number): number {
  return 1 + Math.ceil(Math.log2(fanIn * n * nw + 1));
}

/**
 * Thresholds in accumulator units: the gate O_hb > Δ with O_hb = S * acc_hb + b is acc_hb > (Δ - b) / S,
 * and for an integer acc_hb that is acc_hb > floor((Δ - b) / S). Clamped to [-(A + 1), A], A the largest
 * |acc_hb| possible, which keeps every decision and keeps the values in the accumulator's range.
 */
export function thresholdsInAcc(delta: ArrayLike<number>, bias: ArrayLike<number> | undefined, accScale: number, maxAcc: number): number[] {
  return Array.from({ length: delta.length }, (_, c) => {
    const t = Math.floor((delta[c] - (bias?.[c] ?? 0)) / accScale);
    return Number.isNaN(t) ? maxAcc : Math.min(Math.max(t, -(maxAcc + 1)), maxAcc);
  });
}

/**
 * The float32 value pg's integer-accumulation form (gated format 2) gives one accumulator unit:
 * c = f32(f32(f32(s_x / n) * f32(s_w / n_w)) * |alpha|), the op order of pg's kernel and function bodies
 * (alpha: a Gemm's, whose sign the exporter moves into the weight codes; 1 for a Conv, where the last
 * product is exact).
 */
export function accUnitFloat32(actScale: number, n: number, weightScale: number, nw: number, alpha = 1): number {
  return Math.fround(Math.fround(Math.fround(actScale / n) * Math.fround(weightScale / nw)) * Math.abs(Math.fround(alpha)));
}

/**
 * Thresholds in accumulator units that reproduce pg's float32 gate exactly (gated format 2): pg predicts
 * P(acc_hb) = f32(f32(acc_hb * c) + b) from the exact integer acc_hb and opens the gate where P > Δ. P does
 * not decrease as acc_hb grows (c > 0; rounding is monotonic), so the gate is acc_hb > T with T the largest
 * integer where P(T) <= Δ, found by bisection over [-(A + 1), A] (the clamp of thresholdsInAcc).
 */
export function thresholdsInAccFloat32(delta: ArrayLike<number>, bias: ArrayLike<number> | undefined, accUnit: number, maxAcc: number): number[] {
  return Array.from({ length: delta.length }, (_, c) => {
    const d = delta[c];
    const b = Math.fround(bias?.[c] ?? 0);
    if (Number.isNaN(d)) return maxAcc;
    const predicted = (a: number) => Math.fround(Math.fround(a * accUnit) + b);
    let lo = -(maxAcc + 1); // invariant: the answer is in [lo, hi]
    let hi = maxAcc;
    if (predicted(lo) > d) return lo;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (predicted(mid) <= d) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  });
}

/** Bias in accumulator units, round(b / S) (half to even): the output in integers is S * (acc + bias_acc). */
export function biasInAcc(bias: ArrayLike<number>, accScale: number): number[] {
  return Array.from(bias, (b) => roundHalfEven(b / accScale));
}
