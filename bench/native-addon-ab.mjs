#!/usr/bin/env node
// Two builds of the native addon side by side: every element-wise / pooling / copy kernel runs on the same
// seeded inputs in each, the written bytes are compared (they must be identical), and each kernel is timed
// alternately in both (the best of --reps calls), so load drift on a shared machine hits both alike.
// For a refactor of pg_native.cc that must not change a result:
//   git show main:packages/native-kernels/src/pg_native.cc > /tmp/before.cc   (build it as build-addon.mjs does)
//   node bench/native-addon-ab.mjs /tmp/before.node packages/native-kernels/build/pg_native.node [--reps 20] [--size 1048576]
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { reps: { type: 'string', default: '20' }, size: { type: 'string', default: String(1 << 20) } },
});
if (positionals.length !== 2) {
  console.error('usage: node bench/native-addon-ab.mjs <a.node> <b.node> [--reps 20] [--size 1048576]');
  process.exit(2);
}
const require = createRequire(import.meta.url);
const [a, b] = positionals.map((p) => require(resolve(p)));
const reps = Number(values.reps);
const size = Number(values.size);
const batch = 4;
const channels = 64;

/** Deterministic floats in [lo, hi). */
function fill(view, lo, hi, seed) {
  let st = seed >>> 0;
  for (let i = 0; i < view.length; i++) {
    st = (Math.imul(st, 1664525) + 1013904223) >>> 0;
    view[i] = lo + (st / 2 ** 32) * (hi - lo);
  }
}

// Ten tensor slots of `size` floats, then a small area for scales, Δ and sums.
const slot = (i) => 4 * size * i;
const small = slot(10);
const heapBytes = small + 4 * 4096;
const input = new Uint8Array(heapBytes);
const f32 = new Float32Array(input.buffer);
for (let i = 0; i < 10; i++) fill(f32.subarray(size * i, size * (i + 1)), -1.5, 1.5, 17 + i);
fill(f32.subarray(small / 4, small / 4 + 4096), 0.5, 2, 99);
// Slot 9 as a 0/1 tensor (a dGate of the gate backward).
for (let i = 9 * size; i < 10 * size; i++) f32[i] = f32[i] > 0 ? 1 : 0;

function elt({ scales = batch, bits = 8, hbits = 4, chans = 1, sparse = 0, wantSum = 0, tail = 0 } = {}) {
  return new Int32Array([size, scales, bits, hbits, chans, sparse, wantSum, tail]);
}
const side = Math.floor(Math.sqrt(size / (batch * channels)));
function pool() {
  const p = new Int32Array(21);
  p.set([batch, side, side, channels, Math.floor(side / 2), Math.floor(side / 2), channels, 3, 3, 1, 2, 2, 1, 1, 1, 0, 1, 0], 0);
  return p;
}
const argSlot = slot(7);
// pgMaxPoolBackward reads a valid arg tensor: pgMaxPool's own (run once per heap).
const withArg = (k, heap) => k.pgMaxPool(heap, slot(0), slot(6), argSlot, pool());

/** pgGateBackward from dy, O_lb, z (slots 0-2) into dO_hb, dO_lb (slots 3, 4); the optional tensors and sums as asked. */
function gateBackward(k, h, { out = -1, dGate = -1, dgUniform = -1, dz = -1, wantSum = 0, sparse = 0 }) {
  const dot = wantSum ? small + 4 * 1536 : -1;
  return k.pgGateBackward(
    h,
    slot(0),
    out,
    slot(1),
    slot(2),
    dGate,
    dgUniform,
    slot(3),
    slot(4),
    dz,
    small + 4 * 1024,
    dot,
    elt({ scales: 1, chans: channels, sparse, wantSum }),
    4,
  );
}
const kernels = {
  pgQuantSplit: (k, h) => k.pgQuantSplit(h, slot(0), small, slot(1), slot(2), slot(3), elt()),
  'pgQuantSplit (fakeQuant)': (k, h) => k.pgQuantSplit(h, slot(0), small, slot(1), slot(2), -1, elt({ hbits: 0 })),
  pgQuantBackward: (k, h) => k.pgQuantBackward(h, slot(0), slot(1), slot(2), small, slot(3), small + 4 * 64, elt({ wantSum: 1 })),
  pgFakeQuantBackward: (k, h) => k.pgFakeQuantBackward(h, slot(0), slot(1), small, slot(2), small + 4 * 64, elt()),
  pgGateForward: (k, h) => k.pgGateForward(h, slot(0), slot(1), -1, small, slot(3), slot(4), slot(5), small + 4 * 2048, small + 4 * 2052, elt({ scales: 1, chans: channels })),
  'pgGateForward (offset, no M)': (k, h) =>
    k.pgGateForward(h, slot(0), slot(1), slot(2), small, slot(3), slot(4), -1, small + 4 * 2048, small + 4 * 2052, elt({ scales: 1, chans: channels })),
  'pgGateForward (offset, add-relu tail)': (k, h) =>
    k.pgGateForward(h, slot(0), slot(1), slot(2), small, slot(3), slot(4), -1, small + 4 * 2048, small + 4 * 2052, elt({ scales: 1, chans: channels, tail: 2 })),
  pgGateBackward: (k, h) => gateBackward(k, h, { dGate: slot(9), dz: slot(5), wantSum: 1, sparse: 1 }),
  'pgGateBackward (uniform dGate, dz)': (k, h) => gateBackward(k, h, { dgUniform: small, dz: slot(5), wantSum: 1 }),
  'pgGateBackward (no dGate)': (k, h) => gateBackward(k, h, {}),
  'pgGateBackward (relu tail)': (k, h) => gateBackward(k, h, { out: slot(6), dgUniform: small, wantSum: 1 }),
  pgQuantizeWeights: (k, h) => k.pgQuantizeWeights(h, slot(0), slot(1), elt({ scales: 1 })),
  pgMaxPool: (k, h) => k.pgMaxPool(h, slot(0), slot(6), argSlot, pool()),
  pgMaxPoolBackward: (k, h) => k.pgMaxPoolBackward(h, slot(6), argSlot, slot(8), pool()),
  columnCopy: (k, h) => k.columnCopy(h, slot(0) + 4 * 8, channels, slot(1) + 4 * 3, channels / 2, size / channels, channels / 2),
};

const heaps = [a, b].map((k) => {
  const h = input.slice();
  withArg(k, h);
  return h;
});
const fresh = heaps.map((h) => h.slice());
let failed = false;
console.log(`kernel                       identical  ms (a)   ms (b)   b / a   (${size} floats, best of ${reps})`);
for (const [name, run] of Object.entries(kernels)) {
  [a, b].forEach((k, i) => {
    heaps[i].set(fresh[i]);
    run(k, heaps[i]);
  });
  const same = Buffer.compare(Buffer.from(heaps[0].buffer), Buffer.from(heaps[1].buffer)) === 0;
  failed ||= !same;
  const best = [Infinity, Infinity];
  for (let r = 0; r < reps; r++)
    [a, b].forEach((k, i) => {
      const t0 = process.hrtime.bigint();
      run(k, heaps[i]);
      best[i] = Math.min(best[i], Number(process.hrtime.bigint() - t0) / 1e6);
    });
  console.log(`${name.padEnd(28)} ${String(same).padEnd(10)} ${best[0].toFixed(3).padStart(7)}  ${best[1].toFixed(3).padStart(7)}  ${(best[1] / best[0]).toFixed(2).padStart(6)}`);
}
if (failed) {
  console.error('the two builds wrote different bytes');
  process.exit(1);
}
