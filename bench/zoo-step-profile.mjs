#!/usr/bin/env node
// Per-kernel wall time of one fine-tuning step on a 224x224 zoo model (batch 16, one worker; every wasm kernel,
// the native ones included, wrapped with a timer), to see where a step goes. Same PG setup as
// bench/finetune-step.mjs (4/2 bits, 8-bit weights, static scales, weights trained). Needs the zoo model
// (.cache/zoo/<name>-224.onnx, from fixtures/zoo/make_zoo.py --bench).
// Usage (after `pnpm build`): node bench/zoo-step-profile.mjs [resnet18|mobilenet_v2] [top rows, default 18]
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tf = createRequire(join(root, 'packages/core/package.json'))('@tensorflow/tfjs-core');
const { FINETUNE_DEFAULTS, InMemoryDataset, convertModel, finetune, initBackend, mulberry32, readModel } = await import(join(root, 'packages/core/dist/index.js'));
await initBackend('wasm');
const times = new Map();
let on = false;
for (const k of tf.getKernelsForBackend('wasm')) {
  const f = k.kernelFunc;
  tf.unregisterKernel(k.kernelName, 'wasm');
  tf.registerKernel({
    ...k,
    kernelFunc: (a) => {
      if (!on) return f(a);
      const t0 = performance.now();
      const r = f(a);
      const e = times.get(k.kernelName) ?? [0, 0];
      e[0] += performance.now() - t0;
      e[1]++;
      times.set(k.kernelName, e);
      return r;
    },
  });
}
const name = process.argv[2] ?? 'resnet18';
const top = Number(process.argv[3] ?? 18);
const model = await readModel(join(root, `.cache/zoo/${name}-224.onnx`));
const batch = 16;
const size = 3 * batch;
const sampleSize = 3 * 224 * 224;
const rng = mulberry32(1);
const x = Float32Array.from({ length: size * sampleSize }, () => rng() * 2 - 1);
const labels = Int32Array.from({ length: size }, () => Math.floor(rng() * 1000));
const data = new InMemoryDataset({ name: 'random', size, sampleShape: [3, 224, 224], numClasses: 1000, labels, writeSample: (i, out, o) => out.set(x.subarray(i * sampleSize, (i + 1) * sampleSize), o) });
const { model: gated } = convertModel(model, { bits: 4, hbits: 2, wbits: 8, actScale: 'static' });
let t0 = 0;
// Step 1 warms up (primitive caches, allocations); timed: step 2 and the final held-out evaluation after it.
// Native convolutions called straight from pg's ops (training, ONNX-layout weights) are not wasm kernels, so
// they show only in the wall time, not in the per-kernel rows.
await finetune(gated, data, { ...FINETUNE_DEFAULTS, batchSize: batch, maxSteps: 2, trainWeights: true, weightLr: 1e-4, targetSparsity: 0.85, calibrationBatches: 1, workers: 1 }, {
  onProgress: (p) => {
    if (p.step === 1) {
      on = true;
      t0 = performance.now();
    }
  },
});
const wall = performance.now() - t0;
let total = 0;
for (const [, [t]] of times) total += t;
console.log(`${name}, step 2 + final evaluation: wall ${wall.toFixed(0)} ms, in kernels ${total.toFixed(0)} ms`);
for (const [k, [t, n]] of [...times].sort((a, b) => b[1][0] - a[1][0]).slice(0, top)) console.log(k.padEnd(28), t.toFixed(0).padStart(7), 'ms', String(n).padStart(5), 'calls');
