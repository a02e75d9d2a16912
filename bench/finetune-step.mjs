#!/usr/bin/env node
// Fine-tuning step time of pg against the PyTorch reference of the same step (bench/pytorch_pg_step.py),
// measured one after the other on this machine, printed as a ratio (absolute times drift on shared
// machines; the ratio is the figure to compare). Usage (after `pnpm build`):
//   node bench/finetune-step.mjs [--batch 128] [--steps 20] [--backend wasm]
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { FINETUNE_DEFAULTS, convertModel, finetune, initBackend, openDataset, readModel } from '../packages/core/dist/index.js';

const { values } = parseArgs({ options: { batch: { type: 'string', default: '128' }, steps: { type: 'string', default: '20' }, backend: { type: 'string', default: 'wasm' } } });
const batch = Number(values.batch);
const steps = Number(values.steps);
const root = fileURLToPath(new URL('..', import.meta.url));

await initBackend(values.backend);
const model = await readModel(`${root}fixtures/models/resnet-fmnist.onnx`);
const { model: gated } = convertModel(model, { bits: 4, hbits: 2, wbits: 8, actScale: 'static' });
const data = await openDataset('fashion-mnist:train', { mean: [0.286], std: [0.353] });
const { result } = await finetune(gated, data, {
  ...FINETUNE_DEFAULTS,
  batchSize: batch,
  maxSteps: steps + 3,
  trainWeights: true,
  targetSparsity: 0.85,
  calibrationBatches: 2,
});
const pg = { step_ms_median: result.step_ms_median, steps: result.steps, batch, backend: values.backend };
console.log(`pg (${values.backend}): ${pg.step_ms_median.toFixed(1)} ms/step (median of ${pg.steps}, batch ${batch}, weights + thresholds + scales)`);

const python = '/usr/bin/python3';
const probe = existsSync(python) ? spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8' }) : undefined;
if (!probe || probe.status !== 0) {
  console.log('PyTorch reference skipped: Debian python3-torch is not installed (apt-get install python3-torch)');
  console.log(JSON.stringify({ pg }));
} else {
  const env = { ...process.env };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  const r = spawnSync(python, [`${root}bench/pytorch_pg_step.py`, '--batch', String(batch), '--steps', String(steps)], { encoding: 'utf8', env });
  if (r.status !== 0) throw new Error(`PyTorch reference failed: ${r.stderr}`);
  const torch = JSON.parse(r.stdout.trim().split('\n').pop());
  console.log(`PyTorch ${torch.torch} (${torch.threads} threads): ${torch.step_ms_median.toFixed(1)} ms/step`);
  console.log(`ratio pg / PyTorch: ${(pg.step_ms_median / torch.step_ms_median).toFixed(2)}x (target: <= 1.0x)`);
  console.log(JSON.stringify({ pg, torch, ratio: pg.step_ms_median / torch.step_ms_median }));
}
