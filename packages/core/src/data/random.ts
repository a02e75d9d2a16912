import { UsageError } from '../errors/index.js';

/** A source of uniform floats in [0, 1). */
export type Rng = () => number;

/**
 * mulberry32: a tiny, fast 32-bit PRNG. Not cryptographic; chosen because it is a few lines,
 * has a full 2^32 period and gives the same stream on every platform, so a seed pins an order.
 */
export function mulberry32(seed: number): Rng {
  let a = checkSeed(seed) >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fisher–Yates shuffle in place; uniform over permutations given a uniform `rng`. */
export function shuffleInPlace<T extends { length: number; [i: number]: unknown }>(items: T, rng: Rng): T {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const tmp = items[i];
    items[i] = items[j];
    items[j] = tmp;
  }
  return items;
}

/** The indices 0..n-1 in an order fixed by `seed`. */
export function shuffledIndices(n: number, seed: number): Uint32Array {
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  return shuffleInPlace(order, mulberry32(seed));
}

function checkSeed(seed: number): number {
  if (!Number.isSafeInteger(seed)) {
    throw new UsageError(`Invalid seed ${String(seed)}: a seed must be an integer.`, {
      action: 'Pass an integer seed, e.g. --seed 42.',
    });
  }
  return seed;
}
