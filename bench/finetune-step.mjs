#!/usr/bin/env node
// Fine-tuning step time of pg against the PyTorch reference of the same step (bench/pytorch_pg_step.py),
// per model, measured one after the other on this machine, printed as a ratio (absolute times drift on
// shared machines; the ratio is the figure to compare). Models: the bundled ResNet (Fashion-MNIST, batch
// 128 by default), `vit`: the ViT fixture (fixtures/models/vit-fmnist.onnx, Fashion-MNIST, batch 128; its
// token linear layers as PGMatMul/QMatMul, PyTorch's the same layers on oneDNN), and torchvision's ResNet-18 and MobileNetV2 at 224x224 (random weights, batch 16),
// from the zoo (fixtures/zoo/make_zoo.py --bench: .cache/zoo/<name>-224.onnx), exported when absent. The same PG step on both sides: 4/2 bits,
// 8-bit weights, static learnable scales, thresholds and weights trained with Adam.
// Usage (after `pnpm build`):
//   node bench/finetune-step.mjs [--models bundled,resnet18,mobilenet_v2,vit] [--batch 128] [--steps 20]
//        [--zoo-batch 16] [--zoo-steps 3] [--workers N] [--torch-threads 2] [--rounds 1] [--backend wasm] [--gate-residual]
// Each pg / PyTorch ratio is printed for the median step's wall time and for its CPU time (the process's, every
// thread: a loaded machine moves it less); --torch-threads sets PyTorch's thread count (--workers pg's).
// --gate-residual compares pg with itself instead: each round times pg's step with the plain placement, then
// with pg convert --gate-residual (every residual sum gated too), and prints residual / plain, of the median
// step's wall time and of its CPU time (the process's, every thread), and their medians over the rounds
// (PyTorch is not run); the order of the two alternates between rounds.
// --rounds R alternates pg and PyTorch R times per model and prints each round's ratio and their median:
// on a loaded machine both sides' times swing by several x within minutes (PyTorch's threads suffer most
// from oversubscribed cores), so one round's ratio can mislead.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  FINETUNE_DEFAULTS,
  InMemoryDataset,
  activeNativeKernels,
  nativeUnavailableReason,
  convertModel,
  finetune,
  initBackend,
  mulberry32,
  openDataset,
  readModel,
} from '../packages/core/dist/internal.js';
import { median, runPgSteps, stepCpuTimes } from './support/pg-step.mjs';
import { randomDataset } from './support/random-dataset.mjs';
import { zooDir } from './support/zoo.mjs';

const { values } = parseArgs({
  options: {
    models: { type: 'string', default: 'bundled,resnet18,mobilenet_v2' },
    batch: { type: 'string', default: '128' },
    steps: { type: 'string', default: '20' },
    'zoo-batch': { type: 'string', default: '16' },
    'zoo-steps': { type: 'string', default: '3' },
    workers: { type: 'string' },
    'torch-threads': { type: 'string', default: '2' },
    rounds: { type: 'string', default: '1' },
    backend: { type: 'string', default: 'wasm' },
    'gate-residual': { type: 'boolean', default: false },
  },
});
const root = fileURLToPath(new URL('..', import.meta.url));
// pg's native addon sets OMP_WAIT_POLICY=PASSIVE for its own threads when it loads; PyTorch gets the caller's
// setting (unset: its OpenMP default), not pg's.
const callerOmpWaitPolicy = process.env.OMP_WAIT_POLICY;
const python = '/usr/bin/python3';
const hasTorch = existsSync(python) && spawnSync(python, ['-c', 'import torch, torchvision'], { encoding: 'utf8' }).status === 0;
const workers = values.workers === undefined ? undefined : Number(values.workers);
await initBackend(values.backend);
console.log(`pg convolutions: ${activeNativeKernels() ? 'oneDNN (native)' : `tfjs ${values.backend} (native off: ${nativeUnavailableReason()})`}`);

async function pgStep(name, batch, steps, gateResidual = false) {
  let model;
  let data;
  let warmup;
  if (name === 'bundled' || name === 'vit') {
    model = await readModel(`${root}fixtures/models/${name === 'vit' ? 'vit-fmnist' : 'resnet-fmnist'}.onnx`);
    data = await openDataset('fashion-mnist:train', { mean: [0.286], std: [0.353] });
    warmup = 3;
  } else {
    const path = join(zooDir(), `${name}-224.onnx`);
    if (!existsSync(path)) {
      const r = spawnSync(python, [`${root}fixtures/zoo/make_zoo.py`, '--bench', '--only', name], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`exporting ${name} failed: ${r.stderr}`);
    }
    model = await readModel(path);
    data = randomDataset({ InMemoryDataset, mulberry32 }, (steps + 2) * batch, [3, 224, 224], 1000);
    warmup = 1;
  }
  const { onProgress, cpuMedian } = stepCpuTimes(warmup);
  const { result, layers } = await runPgSteps(
    { convertModel, finetune, FINETUNE_DEFAULTS },
    model,
    data,
    { batchSize: batch, maxSteps: steps + warmup, calibrationBatches: FMNIST_MODELS.has(name) ? 2 : 1, workers, gateResidual },
    { onProgress },
  );
  return {
    step_ms_median: result.step_ms_median,
    cpu_ms_median: cpuMedian(),
    steps: result.steps,
    batch,
    gated: layers.filter((l) => l.gated).length,
    workers: workers ?? 'default',
  };
}

/** The step-time targets (pg / PyTorch) that are not 1.0x: the ViT fine-tuning step may take 1.5x. */
const RATIO_TARGETS = { vit: 1.5 };

/** The Fashion-MNIST models (full data, --batch and --steps); the others are the zoo's at 224x224. */
const FMNIST_MODELS = new Set(['bundled', 'vit']);

function torchStep(name, batch, steps) {
  const env = { ...process.env };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  if (callerOmpWaitPolicy === undefined) delete env.OMP_WAIT_POLICY;
  else env.OMP_WAIT_POLICY = callerOmpWaitPolicy;
  const warmup = FMNIST_MODELS.has(name) ? 3 : 1;
  const args = ['--model', name, '--batch', String(batch), '--steps', String(steps), '--warmup', String(warmup), '--threads', values['torch-threads']];
  const r = spawnSync(python, [`${root}bench/pytorch_pg_step.py`, ...args], {
    encoding: 'utf8',
    env,
  });
  if (r.status !== 0) throw new Error(`PyTorch reference failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

const rows = [];
for (const name of values.models.split(',')) {
  const zoo = !FMNIST_MODELS.has(name);
  const batch = Number(zoo ? values['zoo-batch'] : values.batch);
  const steps = Number(zoo ? values['zoo-steps'] : values.steps);
  if (zoo && !hasTorch) {
    console.log(`${name}: skipped (needs Debian's python3-torch and python3-torchvision to export it)`);
    continue;
  }
  const ratios = [];
  const cpuRatios = [];
  for (let round = 1; round <= Number(values.rounds); round++) {
    const tag = Number(values.rounds) > 1 ? `${name} round ${round}` : name;
    if (values['gate-residual']) {
      // Odd rounds time plain first, even rounds the residual placement first: a load that drifts during a round
      // does not favour one side.
      const [plain, residual] =
        round % 2
          ? [await pgStep(name, batch, steps), await pgStep(name, batch, steps, true)]
          : [await pgStep(name, batch, steps, true), await pgStep(name, batch, steps)].reverse();
      const ratio = residual.step_ms_median / plain.step_ms_median;
      const cpuRatio = residual.cpu_ms_median / plain.cpu_ms_median;
      ratios.push(ratio);
      cpuRatios.push(cpuRatio);
      console.log(
        `${tag} pg plain (${plain.gated} gated layers): ${plain.step_ms_median.toFixed(1)} ms/step (CPU ${plain.cpu_ms_median.toFixed(1)} ms); --gate-residual (${residual.gated}): ${residual.step_ms_median.toFixed(1)} ms/step (CPU ${residual.cpu_ms_median.toFixed(1)} ms); ratio ${ratio.toFixed(3)}x, CPU time ${cpuRatio.toFixed(3)}x (target: <= 1.15x)`,
      );
      rows.push({ model: name, round, plain, residual, ratio, cpu_ratio: cpuRatio });
      continue;
    }
    const pg = await pgStep(name, batch, steps);
    console.log(`${tag} pg (${values.backend}, workers ${pg.workers}, ${pg.gated} gated layers): ${pg.step_ms_median.toFixed(1)} ms/step (median of ${pg.steps}, batch ${batch})`);
    if (!hasTorch) {
      console.log('PyTorch reference skipped: Debian python3-torch is not installed (apt-get install python3-torch)');
      rows.push({ model: name, round, pg });
      continue;
    }
    const torch = torchStep(name, batch, steps);
    const ratio = pg.step_ms_median / torch.step_ms_median;
    const cpuRatio = pg.cpu_ms_median / torch.cpu_ms_median;
    ratios.push(ratio);
    cpuRatios.push(cpuRatio);
    console.log(
      `${tag} PyTorch ${torch.torch} (${torch.threads} threads, ${torch.gated} gated layers): ${torch.step_ms_median.toFixed(1)} ms/step (CPU ${torch.cpu_ms_median.toFixed(1)} ms)`,
    );
    console.log(
      `${tag} ratio pg / PyTorch: ${ratio.toFixed(2)}x (target: <= ${(RATIO_TARGETS[name] ?? 1).toFixed(1)}x); CPU time ${cpuRatio.toFixed(2)}x (pg ${pg.cpu_ms_median.toFixed(1)} ms)`,
    );
    rows.push({ model: name, round, pg, torch, ratio, cpu_ratio: cpuRatio });
  }
  if (ratios.length > 1) {
    console.log(`${name} median ratio over ${ratios.length} rounds: ${median(ratios).toFixed(2)}x (rounds: ${ratios.map((r) => r.toFixed(2)).join(', ')})`);
  }
  if (cpuRatios.length > 1) {
    console.log(`${name} median CPU-time ratio over ${cpuRatios.length} rounds: ${median(cpuRatios).toFixed(2)}x (rounds: ${cpuRatios.map((r) => r.toFixed(2)).join(', ')})`);
  }
}
console.log(JSON.stringify(rows));
