#!/usr/bin/env node
// One fine-tuning step measurement in its own process, for bench/step-ab.mjs: the PG step of
// bench/support/pg-step.mjs (runPgSteps) with the build in --dist (a packages/core/dist folder, this one's or
// another commit's), so two builds never share a process (each loads its own tfjs and native addon).
// --placement: `default` (what that build's pg convert does with no flag), `plain` (--no-gate-residual) or
// `residual` (--gate-residual; a build from before the flag has no such option: pass `default` there). Prints one
// JSON line: the median step's wall time and the process's CPU time per step (every thread), after the warm-up.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { runPgSteps, stepCpuTimes } from './pg-step.mjs';
import { randomDataset } from './random-dataset.mjs';
import { repoRoot, zooDir } from './zoo.mjs';

const { values } = parseArgs({
  options: {
    dist: { type: 'string' },
    model: { type: 'string', default: 'bundled' },
    placement: { type: 'string', default: 'default' },
    batch: { type: 'string', default: '128' },
    steps: { type: 'string', default: '12' },
    warmup: { type: 'string', default: '3' },
    workers: { type: 'string' },
  },
});
if (!values.dist || !existsSync(join(values.dist, 'internal.js'))) throw new Error('--dist must be a built packages/core/dist folder (with internal.js)');
const PLACEMENTS = { default: 'default', plain: false, residual: true };
if (!(values.placement in PLACEMENTS)) throw new Error(`--placement ${values.placement}: expected default, plain or residual`);
const core = await import(pathToFileURL(join(resolve(values.dist), 'internal.js')).href);
await core.initBackend('wasm');
const batch = Number(values.batch);
const steps = Number(values.steps);
const warmup = Number(values.warmup);
let model;
let data;
if (values.model === 'bundled') {
  // This checkout's bundled model for every build: only the code differs.
  model = await core.readModel(join(repoRoot, 'fixtures/models/resnet-fmnist.onnx'));
  data = await core.openDataset('fashion-mnist:train', { mean: [0.286], std: [0.353] });
} else {
  // A zoo model at 224x224 (fixtures/zoo/make_zoo.py --bench), on seeded random data: speed does not depend on it.
  model = await core.readModel(join(zooDir(), `${values.model}-224.onnx`));
  data = randomDataset(core, (steps + warmup + 2) * batch, [3, 224, 224], 1000);
}
const { onProgress, cpuMedian } = stepCpuTimes(warmup);
const { result, layers } = await runPgSteps(
  core,
  model,
  data,
  {
    batchSize: batch,
    maxSteps: steps + warmup,
    calibrationBatches: values.model === 'bundled' ? 2 : 1,
    workers: values.workers === undefined ? undefined : Number(values.workers),
    gateResidual: PLACEMENTS[values.placement],
  },
  { onProgress },
);
console.log(JSON.stringify({ step_ms_median: result.step_ms_median, cpu_ms_median: cpuMedian(), gated: layers.filter((l) => l.gated).length }));
