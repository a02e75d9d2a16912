// The gated ResNet's accuracy and sparsity right after calibration (finetune's defaults: 8 batches of 128,
// seed 0, 4/2/8 bits, static scale) on the bundled test data: the start that `pg finetune` trains from.
// Run: pnpm build && node bench/calibration-start.mjs [target-sparsity]
import { calibrate, convertModel, FINETUNE_DEFAULTS, initBackend, openDataset, readModel, reportModel } from '../packages/core/dist/internal.js';

const target = Number(process.argv[2] ?? 0.8);
await initBackend('wasm');
const norm = { mean: [0.286], std: [0.353] };
const float = await readModel(new URL('../fixtures/models/resnet-fmnist.onnx', import.meta.url).pathname);
const { model } = convertModel(float, { bits: 4, hbits: 2, wbits: 8, actScale: 'static' });
const train = await openDataset('fashion-mnist:train?source=bundled', norm);
const t0 = Date.now();
const gated = await calibrate(model, train, {
  batches: FINETUNE_DEFAULTS.calibrationBatches,
  batchSize: FINETUNE_DEFAULTS.batchSize,
  seed: 0,
  scales: true,
  targetSparsity: target,
});
const test = await openDataset('fashion-mnist:test?source=bundled', norm);
const r = await reportModel(gated, test, { batchSize: 128 });
console.log(JSON.stringify({ target, accuracy: r.accuracy, sparsity: r.sparsity, samples: r.samples, calibrate_and_report_s: (Date.now() - t0) / 1000 }));
