import { loadNativeKernels } from '@pg/native-kernels';
import { describe, expect, it } from 'vitest';
import { nativeBuilt, nativeSkipReason, uniform } from '../../../test/support/native.js';

// The data-parallel trainer's gradient sum (train/parallel/data-parallel.ts): the addon's sumSlots must give
// the bits of the JavaScript loop it replaces, which adds slot 0, 1, 2... to +0 in float32.

function loopSum(slots: Float32Array, shards: number, total: number): Float32Array {
  const sum = new Float32Array(total);
  for (let k = 0; k < shards; k++) for (let p = 0; p < total; p++) sum[p] += slots[k * total + p];
  return sum;
}

describe.skipIf(!nativeBuilt)(`native sumSlots${nativeSkipReason}`, () => {
  const native = () => {
    const load = loadNativeKernels();
    if (!load.ok) throw new Error(load.reason);
    return load.kernels;
  };

  it('equals the float32 loop bit for bit, on shared memory, with wide value ranges, -0, Inf and NaN', () => {
    const shards = 4;
    const total = 100_003;
    const slots = new Float32Array(new SharedArrayBuffer(4 * shards * total));
    // Magnitudes 1e-3..1e5 so the order of the additions shows in the rounding.
    slots.set(uniform(shards * total, 1, 7).map((v, i) => v * 10 ** ((i % 9) - 3)));
    slots[5] = -0;
    slots[total + 5] = -0;
    slots[2 * total + 5] = -0;
    slots[3 * total + 5] = -0;
    slots[9] = Infinity;
    slots[total + 9] = -Infinity;
    slots[11] = NaN;
    const out = new Float32Array(total);
    native().sumSlots(slots, shards, out);
    const want = loopSum(slots, shards, total);
    expect(Buffer.from(out.buffer).equals(Buffer.from(want.buffer))).toBe(true);
    expect(Object.is(out[5], 0)).toBe(true);
    expect(Number.isNaN(out[9]) && Number.isNaN(out[11])).toBe(true);
    // A different order of the same additions would differ somewhere: the test can see the order.
    const reversed = new Float32Array(total);
    for (let k = shards - 1; k >= 0; k--) for (let p = 0; p < total; p++) reversed[p] += slots[k * total + p];
    expect(Buffer.from(reversed.buffer).equals(Buffer.from(want.buffer))).toBe(false);
  });

  it('refuses slots too short for the shards', () => {
    expect(() => native().sumSlots(new Float32Array(10), 3, new Float32Array(4))).toThrow(/slots must hold shards x out.length floats/);
    expect(() => native().sumSlots(new Float32Array(10), 1, new Int32Array(4) as unknown as Float32Array)).toThrow(/out must be a Float32Array/);
  });
});
