#!/usr/bin/env node
// Per-kernel wall time of one fine-tuning step on a 224x224 zoo model (batch 16, one worker; every wasm kernel,
// the native ones included, wrapped with a timer), to see where a step goes. Same PG setup as
// bench/finetune-step.mjs (4/2 bits, 8-bit weights, static scales, weights trained). Needs the zoo model
// (<name>-224.onnx in PG_ZOO_DIR or .cache/zoo, from fixtures/zoo/make_zoo.py --bench).
// Usage (after `pnpm build`): node bench/zoo-step-profile.mjs [resnet18|mobilenet_v2] [top rows, default 18]
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { timeWasmKernels } from './support/kernel-timer.mjs';
import { runPgSteps } from './support/pg-step.mjs';
import { randomDataset } from './support/random-dataset.mjs';
import { zooDir } from './support/zoo.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tf = createRequire(join(root, 'packages/core/package.json'))('@tensorflow/tfjs-core');
const { FINETUNE_DEFAULTS, InMemoryDataset, convertModel, finetune, initBackend, mulberry32, readModel } = await import(join(root, 'packages/core/dist/internal.js'));
await initBackend('wasm');
const kernels = timeWasmKernels(tf);
const name = process.argv[2] ?? 'resnet18';
const top = Number(process.argv[3] ?? 18);
const model = await readModel(join(zooDir(), `${name}-224.onnx`));
const batch = 16;
const data = randomDataset({ InMemoryDataset, mulberry32 }, 3 * batch, [3, 224, 224], 1000);
let t0 = 0;
// Step 1 warms up (primitive caches, allocations); timed: step 2 and the final held-out evaluation after it.
// Native convolutions called straight from pg's ops (training, ONNX-layout weights) are not wasm kernels, so
// they show only in the wall time, not in the per-kernel rows.
await runPgSteps(
  { convertModel, finetune, FINETUNE_DEFAULTS },
  model,
  data,
  { batchSize: batch, maxSteps: 2, calibrationBatches: 1, workers: 1 },
  {
    onProgress: (p) => {
      if (p.step === 1) t0 = kernels.start();
    },
  },
);
const wall = performance.now() - t0;
console.log(`${name}, step 2 + final evaluation: wall ${wall.toFixed(0)} ms, in kernels ${kernels.totalMs().toFixed(0)} ms`);
for (const { name: kernel, ms, calls } of kernels.rows(top)) console.log(kernel.padEnd(28), ms.toFixed(0).padStart(7), 'ms', String(calls).padStart(5), 'calls');
