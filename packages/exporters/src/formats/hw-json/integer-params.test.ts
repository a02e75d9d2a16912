import { describe, expect, it } from 'vitest';
import { accUnitFloat32, thresholdsInAcc, thresholdsInAccFloat32 } from './integer-params.js';

/** A seeded uniform generator (mulberry32), so the cases are the same on every run. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('thresholdsInAccFloat32', () => {
  it("opens exactly where pg's float32 prediction f32(f32(acc c) + b) passes the threshold, for every accumulator", () => {
    const rnd = random(7);
    const maxAcc = 3000;
    let rationalDiffers = 0;
    for (let trial = 0; trial < 200; trial++) {
      const c = accUnitFloat32(Math.fround(0.5 + rnd() * 4), 15, Math.fround(0.05 + rnd()), 255);
      const b = Math.fround((rnd() - 0.5) * 2);
      // Thresholds placed on predictions pg can produce, and just next to them: the ties that matter.
      const a0 = Math.floor((rnd() - 0.5) * 2 * maxAcc);
      const onValue = Math.fround(Math.fround(a0 * c) + b);
      const delta = Float32Array.from([onValue, Math.fround(onValue * (1 + 2 ** -23)), Math.fround(onValue * (1 - 2 ** -23)), Math.fround((rnd() - 0.5) * 4)]);
      const t = thresholdsInAccFloat32(
        delta,
        Float32Array.from(delta, () => b),
        c,
        maxAcc,
      );
      const rational = thresholdsInAcc(
        delta,
        Float32Array.from(delta, () => b),
        c,
        maxAcc,
      );
      delta.forEach((d, k) => {
        if (t[k] !== rational[k]) rationalDiffers++;
        for (let a = -maxAcc; a <= maxAcc; a++) {
          const pg = Math.fround(Math.fround(a * c) + b) > d;
          if (pg !== a > t[k]) throw new Error(`trial ${trial}: acc ${a}, c ${c}, b ${b}, delta ${d}: pg ${pg}, T ${t[k]}`);
        }
      });
    }
    // The exact rational threshold floor((Δ - b) / S) is not pg's float32 gate on such ties.
    expect(rationalDiffers).toBeGreaterThan(0);
  });

  it('keeps the clamp: always open below every prediction, never above, and never for a NaN threshold', () => {
    const c = accUnitFloat32(1, 15, 1, 255);
    expect(thresholdsInAccFloat32([-1e9, 1e9, Number.NaN], undefined, c, 100)).toEqual([-101, 100, 100]);
  });
});
