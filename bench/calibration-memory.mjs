#!/usr/bin/env node
// The wasm heap a calibration grows, against one inference, on a 224x224 zoo model (MobileNetV2 by default):
// the bug where MobileNetV2-224's final calibration ran out of wasm memory (docs/native-kernels.md): 4 GiB before the fix, 1.07 GiB after.
// Usage (after pnpm build; PG_ZOO_DIR with <name>-224.onnx from fixtures/zoo/make_zoo.py --bench):
//   node bench/calibration-memory.mjs run|scales|thresholds [NAME] [BATCH]
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomDataset } from './support/random-dataset.mjs';
import { zooDir } from './support/zoo.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const tf = createRequire(join(root, 'packages/core/package.json'))('@tensorflow/tfjs-core');
const core = await import(join(root, 'packages/core/dist/internal.js'));
const [mode = 'scales', name = 'mobilenet_v2', batchArg = '16'] = process.argv.slice(2);
const batch = Number(batchArg);
await core.initBackend('wasm');
const model = await core.readModel(join(zooDir(), `${name}-224.onnx`));
const data = randomDataset(core, 2 * batch, [3, 224, 224], 1000);
const { model: gated } = core.convertModel(model, { bits: 4, hbits: 2, wbits: 8, actScale: 'static' });
const heap = () => `wasm heap ${(tf.backend().wasm.HEAPU8.length / 2 ** 20).toFixed(0)} MiB, live tensors ${(tf.memory().numBytes / 2 ** 20).toFixed(0)} MiB`;
console.log(`${name}-224, batch ${batch}, before: ${heap()}`);
const calibration = { batches: 1, batchSize: batch, seed: 0 };
if (mode === 'scales') await core.calibrateActScales(gated, data, calibration);
else if (mode === 'thresholds') await core.calibrate(gated, data, { ...calibration, targetSparsity: 0.85, scales: false });
else {
  const exec = new core.Executor(gated, { registry: core.opRegistry });
  const x = tf.randomNormal([batch, 3, 224, 224]);
  tf.tidy(() => void exec.run({ [exec.graph.inputs[0].name]: x }));
}
console.log(`after ${mode}: ${heap()}`);
