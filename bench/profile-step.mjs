#!/usr/bin/env node
// Per-kernel wall time of fine-tuning steps on the bundled ResNet or the ViT fixture (Fashion-MNIST), or on a
// 224x224 zoo model (fixtures/zoo/make_zoo.py --bench: <name>-224.onnx; seeded random data), one worker (the
// whole batch on this thread; every wasm kernel and every direct call into the oneDNN addon wrapped with a
// timer), to see where a step goes. The rest of the wall time ("outside kernels") is JavaScript: tfjs's engine
// and tape, the interpreter, the optimizer's bookkeeping. bench/pytorch_pg_step.py --profile is PyTorch's side.
// Usage (after `pnpm build`): node bench/profile-step.mjs [--model bundled|vit|resnet18|...] [--steps 4] [--batch 128,
// 16 for a zoo model] [--top 30]
// [--gate-residual] (--gate-residual: the placement of pg convert --gate-residual; the default is the plain one).
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { timeWasmKernels } from './support/kernel-timer.mjs';
import { runPgSteps } from './support/pg-step.mjs';
import { randomDataset } from './support/random-dataset.mjs';
import { zooDir } from './support/zoo.mjs';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'bundled' },
    steps: { type: 'string', default: '4' },
    batch: { type: 'string' },
    top: { type: 'string', default: '30' },
    'gate-residual': { type: 'boolean', default: false },
  },
});
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tf = createRequire(join(root, 'packages/core/package.json'))('@tensorflow/tfjs-core');
const dist = join(root, 'packages/core/dist');
const { FINETUNE_DEFAULTS, InMemoryDataset, convertModel, finetune, initBackend, mulberry32, openDataset, readModel } = await import(join(dist, 'internal.js'));
const native = await import(join(dist, 'interpreter/native/native-conv.js'));
await initBackend('wasm');
const kernels = timeWasmKernels(tf, native);
const file = { bundled: 'resnet-fmnist', vit: 'vit-fmnist' }[values.model];
const steps = Number(values.steps);
const batch = Number(values.batch ?? (file ? 128 : 16));
const model = await readModel(file ? join(root, `fixtures/models/${file}.onnx`) : join(zooDir(), `${values.model}-224.onnx`));
const data = file
  ? await openDataset('fashion-mnist:train', { mean: [0.286], std: [0.353] })
  : randomDataset({ InMemoryDataset, mulberry32 }, (steps + 2) * batch, [3, 224, 224], 1000);
// Step 1 warms up (primitive caches, allocations); steps 2 to the last are timed (not the final calibration after them).
let t0;
let t1;
const { result } = await runPgSteps(
  { convertModel, finetune, FINETUNE_DEFAULTS },
  model,
  data,
  { batchSize: batch, maxSteps: steps, calibrationBatches: file ? 2 : 1, workers: 1, gateResidual: values['gate-residual'] },
  {
    onProgress: (p) => {
      if (p.step === 1) t0 = kernels.start();
      if (p.step === steps) t1 = kernels.stop();
    },
  },
);
const timed = steps - 1;
const wall = (t1 - t0) / timed;
const inKernels = kernels.totalMs() / timed;
console.log(
  `${values.model}, batch ${batch}, one worker: median step ${result.step_ms_median.toFixed(1)} ms; per timed step: wall ${wall.toFixed(1)} ms, in kernels ${inKernels.toFixed(1)} ms, outside kernels ${(wall - inKernels).toFixed(1)} ms`,
);
for (const { name, ms, calls } of kernels.rows(Number(values.top)))
  console.log(name.padEnd(28), (ms / timed).toFixed(2).padStart(8), 'ms', String(calls / timed).padStart(6), 'calls');
