#!/usr/bin/env node
// ShuffleNetV2's channel shuffle + split on tfjs-wasm, in isolation: ways to go from the NHWC activation a
// unit's Concat makes to the two NHWC halves the next unit reads (one is its branch, one goes to its Concat),
// at the shapes of torchvision's shufflenet_v2_x1_0 at batch 8, 224x224. Every form is checked bit-identical
// to the first (the ONNX graph's own ops). Usage: node bench/channel-shuffle.mjs [--reps 20]
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { initBackend } from '../packages/core/dist/internal.js';
import { sliceCoarse, transposeCoarse } from '../packages/core/dist/interpreter/ops/coarse-view.js';

const tf = createRequire(new URL('../packages/core/package.json', import.meta.url))('@tensorflow/tfjs-core');
const { values } = parseArgs({ options: { reps: { type: 'string', default: '20' } } });
const reps = Number(values.reps);
await initBackend('wasm');

const N = 8;
const G = 2;
const shapes = [
  [N, 28, 28, 116],
  [N, 14, 14, 232],
  [N, 7, 7, 464],
];

/** What the executor did before: to NCHW, the ONNX Reshape/Transpose/Reshape, Slices on axis 1, back to NHWC. */
function onnxOps(x) {
  const [n, h, w, c] = x.shape;
  const nchw = tf.transpose(x, [0, 3, 1, 2]);
  const s = tf.reshape(tf.transpose(tf.reshape(nchw, [n, G, c / G, h, w]), [0, 2, 1, 3, 4]), [n, c, h, w]);
  const a = tf.slice(s, [0, 0, 0, 0], [n, c / 2, h, w]);
  const b = tf.slice(s, [0, c / 2, 0, 0], [n, c / 2, h, w]);
  return [tf.transpose(a, [0, 2, 3, 1]), tf.transpose(b, [0, 2, 3, 1])];
}

/** The ONNX ops again, with the slices and transposes on coarse views (pg's kernels since this bench). */
function onnxOpsCoarse(x) {
  const [n, h, w, c] = x.shape;
  const nchw = transposeCoarse(x, [0, 3, 1, 2]);
  const s = tf.reshape(transposeCoarse(tf.reshape(nchw, [n, G, c / G, h, w]), [0, 2, 1, 3, 4]), [n, c, h, w]);
  const a = sliceCoarse(s, [0, 0, 0, 0], [n, c / 2, h, w], { differentiable: false });
  const b = sliceCoarse(s, [0, c / 2, 0, 0], [n, c / 2, h, w], { differentiable: false });
  return [transposeCoarse(a, [0, 2, 3, 1]), transposeCoarse(b, [0, 2, 3, 1])];
}

/** Shuffle in NHWC as a reshape + transpose of the last two dims, then two slices of the last axis. */
function nhwcTransposeThenSlice(x) {
  const [n, h, w, c] = x.shape;
  const s = tf.reshape(tf.transpose(tf.reshape(x, [n, h, w, G, c / G]), [0, 1, 2, 4, 3]), [n, h, w, c]);
  return [tf.slice(s, [0, 0, 0, 0], [n, h, w, c / 2]), tf.slice(s, [0, 0, 0, c / 2], [n, h, w, c / 2])];
}

/** What pg does now: the shuffle as one transpose, the halves copied row by row inside the wasm heap. */
function pgNow(x) {
  const [n, h, w, c] = x.shape;
  const s = tf.reshape(tf.transpose(tf.reshape(x, [n * h * w, G, c / G]), [0, 2, 1]), [n, h, w, c]);
  const opts = { differentiable: false };
  return [sliceCoarse(s, [0, 0, 0, 0], [n, h, w, c / 2], opts), sliceCoarse(s, [0, 0, 0, c / 2], [n, h, w, c / 2], opts)];
}

/** The same, slicing a 2-D [NHW, C] view (tfjs-wasm has a 2-D slice kernel). */
function nhwcTransposeThenSlice2d(x) {
  const [n, h, w, c] = x.shape;
  const p = n * h * w;
  const s = tf.reshape(tf.transpose(tf.reshape(x, [p, G, c / G]), [0, 2, 1]), [p, c]);
  return [tf.reshape(tf.slice(s, [0, 0], [p, c / 2]), [n, h, w, c / 2]), tf.reshape(tf.slice(s, [0, c / 2], [p, c / 2]), [n, h, w, c / 2])];
}

/** Shuffle in NHWC as one gather on the channel axis, then two slices of the last axis. */
const perms = new Map();
function permutation(c) {
  let p = perms.get(c);
  if (!p) {
    const idx = new Int32Array(c);
    for (let k = 0; k < c / G; k++) for (let i = 0; i < G; i++) idx[k * G + i] = i * (c / G) + k;
    perms.set(c, (p = tf.keep(tf.tensor1d(idx, 'int32'))));
  }
  return p;
}
function nhwcGatherThenSlice(x) {
  const [n, h, w, c] = x.shape;
  const s = tf.gather(x, permutation(c), 3);
  return [tf.slice(s, [0, 0, 0, 0], [n, h, w, c / 2]), tf.slice(s, [0, 0, 0, c / 2], [n, h, w, c / 2])];
}

/**
 * Shuffle and split in one transpose: half h, position m of the shuffled channels is input channel
 * (m % 2) * C/2 + h * C/4 + floor(m / 2), so viewing the input as [NHW, i=2, h=2, q=C/4] and permuting to
 * [h, NHW, q, i] puts each half in one contiguous block; the halves are then contiguous slices.
 */
function fusedTranspose(x) {
  const [n, h, w, c] = x.shape;
  const p = n * h * w;
  const t = tf.reshape(tf.transpose(tf.reshape(x, [p, 2, 2, c / 4]), [2, 0, 3, 1]), [2, p * (c / 2)]);
  return [tf.reshape(tf.slice(t, [0, 0], [1, -1]), [n, h, w, c / 2]), tf.reshape(tf.slice(t, [1, 0], [1, -1]), [n, h, w, c / 2])];
}

const forms = { onnxOps, onnxOpsCoarse, pgNow, nhwcTransposeThenSlice, nhwcTransposeThenSlice2d, nhwcGatherThenSlice, fusedTranspose };
for (const shape of shapes) {
  const x = tf.randomNormal(shape, 0, 1, 'float32', 1);
  const ref = onnxOps(x).map((t) => t.dataSync());
  const line = [];
  for (const [name, f] of Object.entries(forms)) {
    const got = tf.tidy(() => f(x).map((t) => t.dataSync()));
    const same = got.every((g, k) => g.length === ref[k].length && g.every((v, i) => Object.is(v, ref[k][i])));
    if (!same) throw new Error(`${name} differs from the ONNX ops at ${shape}`);
    tf.tidy(() => f(x)); // warm-up
    const t0 = performance.now();
    for (let r = 0; r < reps; r++) tf.tidy(() => void f(x));
    line.push(`${name} ${((performance.now() - t0) / reps).toFixed(2)} ms`);
  }
  console.log(`[${shape.join(', ')}]  ${line.join('   ')}`);
  x.dispose();
}
