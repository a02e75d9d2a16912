#!/usr/bin/env node
// The native convolutions' activation layout, A/B in one process: the same PG fine-tuning steps (a 224x224 zoo
// model, batch 16, 4/2 bits, 8-bit weights, static scales, weights trained: the setup of bench/finetune-step.mjs)
// with oneDNN's channel-blocked layout for plain spatial convolutions (the default) and with NHWC everywhere
// (PG_NATIVE_BLOCKED=0), alternating per round so load drift hits both. Prints each run's median step time and
// the ratio of the medians (blocked / NHWC). Needs the addon built (pnpm build with libdnnl-dev) and the zoo
// (fixtures/zoo/make_zoo.py --bench). The addon reads PG_NATIVE_BLOCKED when it makes a primitive, and the
// training workers start per run, so both layouts really run.
// Usage (after `pnpm build`): node bench/native-layout-ab.mjs [--model resnet18] [--rounds 3] [--steps 3] [--workers N]
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  FINETUNE_DEFAULTS,
  InMemoryDataset,
  activeNativeKernels,
  convertModel,
  finetune,
  initBackend,
  mulberry32,
  nativeUnavailableReason,
  readModel,
} from '../packages/core/dist/internal.js';
import { runPgSteps } from './support/pg-step.mjs';
import { randomDataset } from './support/random-dataset.mjs';
import { median, zooDir } from './support/zoo.mjs';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'resnet18' },
    rounds: { type: 'string', default: '3' },
    steps: { type: 'string', default: '3' },
    workers: { type: 'string' },
  },
});
const [rounds, steps, batch] = [Number(values.rounds), Number(values.steps), 16];
const workers = values.workers === undefined ? undefined : Number(values.workers);
await initBackend('wasm');
if (!activeNativeKernels()) {
  console.log(`native kernels are off (${nativeUnavailableReason()}): build them with libdnnl-dev + g++ (pnpm build)`);
  process.exit(1);
}
const model = await readModel(join(zooDir(), `${values.model}-224.onnx`));
// One warm-up step plus `steps` timed ones, on random samples.
const data = randomDataset({ InMemoryDataset, mulberry32 }, (steps + 2) * batch, [3, 224, 224], 1000);

const times = { blocked: [], nhwc: [] };
for (let round = 1; round <= rounds; round++) {
  for (const layout of round % 2 ? ['blocked', 'nhwc'] : ['nhwc', 'blocked']) {
    process.env.PG_NATIVE_BLOCKED = layout === 'blocked' ? '1' : '0';
    const { result } = await runPgSteps({ convertModel, finetune, FINETUNE_DEFAULTS }, model, data, { batchSize: batch, maxSteps: steps + 1, calibrationBatches: 1, workers });
    times[layout].push(result.step_ms_median);
    console.log(`${values.model} round ${round} ${layout.padEnd(7)} ${result.step_ms_median.toFixed(0)} ms/step (median of ${result.steps}, batch ${batch})`);
  }
}
delete process.env.PG_NATIVE_BLOCKED;
const [b, n] = [median(times.blocked), median(times.nhwc)];
console.log(`${values.model} blocked / NHWC step time: ${(b / n).toFixed(3)} (medians ${b.toFixed(0)} / ${n.toFixed(0)} ms over ${rounds} rounds)`);
