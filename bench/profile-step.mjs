#!/usr/bin/env node
// Per-kernel wall time of fine-tuning steps on the bundled model (every wasm kernel wrapped with a timer),
// to see where a step goes. Usage (after `pnpm build`): node bench/profile-step.mjs "$PWD" [steps] [--gate-residual]
// (--gate-residual: the placement of pg convert --gate-residual).
import { createRequire } from 'node:module';
import { timeWasmKernels } from './support/kernel-timer.mjs';
import { runPgSteps } from './support/pg-step.mjs';
const tf = createRequire(process.argv[2] + '/packages/core/package.json')('@tensorflow/tfjs-core');
const root = process.argv[2];
const { FINETUNE_DEFAULTS, convertModel, finetune, initBackend, openDataset, readModel } = await import(`${root}/packages/core/dist/internal.js`);
await initBackend('wasm');
const kernels = timeWasmKernels(tf);
const model = await readModel(`${root}/fixtures/models/resnet-fmnist.onnx`);
const data = await openDataset('fashion-mnist:train', { mean: [0.286], std: [0.353] });
const steps = Number(process.argv[3] ?? 4);
const gateResidual = process.argv.includes('--gate-residual');
let t0;
let t1;
const { result } = await runPgSteps(
  { convertModel, finetune, FINETUNE_DEFAULTS },
  model,
  data,
  { batchSize: 128, maxSteps: steps, calibrationBatches: 2, gateResidual },
  {
    onProgress: (p) => {
      // Steps 2..steps: the first step's warm-up and the final calibration are left out.
      if (p.step === 1) t0 = kernels.start();
      if (p.step === steps) t1 = kernels.stop();
    },
  },
);
const wall = ((t1 ?? performance.now()) - t0) / (steps - 1);
console.log(`median step ${result.step_ms_median.toFixed(0)} ms; per step: wall ${wall.toFixed(0)} ms, in kernels ${(kernels.totalMs() / (steps - 1)).toFixed(0)} ms`);
for (const { name, ms, calls } of kernels.rows(30)) console.log(name.padEnd(28), (ms / (steps - 1)).toFixed(1).padStart(8), 'ms', String(calls / (steps - 1)).padStart(5), 'calls');
