#!/usr/bin/env node
// Where `pg run` spends its time, per ONNX op type: the executor runs the model with a registry whose
// kernels are the default ones wrapped in a timer (wasm kernels are synchronous, so a kernel's wall time is
// its cost, including the data reads of shape-like inputs it does). Same models and inputs as
// bench/run-throughput.mjs (batch 8, 224x224; the models come from fixtures/zoo/make_zoo.py --bench).
//
// Usage (after `pnpm build`):
//   node bench/run-profile.mjs [--batch 8] [--runs 3] [--models resnet18,mobilenet_v2,shufflenet_v2_x1_0]
import { createRequire } from 'node:module';
import { Executor, initBackend, opRegistry, readModel } from '../packages/core/dist/internal.js';
import { loadZooModel, openZoo, parseBenchArgs } from './support/zoo.mjs';

const tf = createRequire(new URL('../packages/core/package.json', import.meta.url))('@tensorflow/tfjs-core');

const { batch, runs, models } = parseBenchArgs({ runs: '3' });
const zoo = openZoo();

await initBackend('wasm');

// Op types whose work is shape arithmetic (the Shape -> Gather -> Unsqueeze -> Concat chains feeding Reshape).
const SHAPE_OPS = new Set(['Shape', 'Gather', 'Unsqueeze', 'Constant', 'Cast', 'Div', 'Mul', 'Add', 'Concat']);

let timing = false;
const times = new Map();
/** pg's registry, each kernel timed under the node's op type (integer-valued outputs count as shape work). */
const timedRegistry = opRegistry.withKernels(({ op: opType, kernel }) => (inputs, ctx) => {
  if (!timing) return kernel(inputs, ctx);
  const t0 = performance.now();
  const outs = kernel(inputs, ctx);
  const ms = performance.now() - t0;
  const shapeWork = SHAPE_OPS.has(opType) && outs.every((o) => o && o.t.dtype === 'int32' && o.t.rank <= 1);
  const key = shapeWork ? `${opType} (shape)` : ctx.activation ? `${opType}+${ctx.activation}` : opType;
  const e = times.get(key) ?? { ms: 0, calls: 0 };
  e.ms += ms;
  e.calls++;
  times.set(key, e);
  return outs;
});

for (const name of models) {
  const { model, feeds: fixed } = await loadZooModel(zoo, name, batch, readModel);
  const exec = new Executor(model, { registry: timedRegistry });
  // The executor takes tf tensors, not run-backend tensors.
  const inputName = model.graph.inputs[0].name;
  const x = tf.tensor(fixed[inputName].data, fixed[inputName].shape, 'float32');
  const feeds = { [inputName]: x };
  const once = () => {
    const out = tf.tidy(() => exec.run(feeds));
    for (const t of Object.values(out)) {
      t.dataSync();
      t.dispose();
    }
  };
  once();
  times.clear();
  timing = true;
  const t0 = performance.now();
  for (let i = 0; i < runs; i++) once();
  const wall = (performance.now() - t0) / runs;
  timing = false;
  exec.dispose();
  x.dispose();
  let inKernels = 0;
  for (const e of times.values()) inKernels += e.ms;
  inKernels /= runs;
  console.log(
    `\n${name} (batch ${batch}): ${wall.toFixed(0)} ms per run, ${inKernels.toFixed(0)} ms in op kernels, ${(wall - inKernels).toFixed(0)} ms elsewhere (executor, output read)`,
  );
  for (const [k, e] of [...times].sort((a, b) => b[1].ms - a[1].ms)) {
    const ms = e.ms / runs;
    console.log(`  ${k.padEnd(22)} ${ms.toFixed(1).padStart(8)} ms ${((100 * ms) / wall).toFixed(1).padStart(5)}%  ${String(e.calls / runs).padStart(4)} calls`);
  }
  console.log(`  tensors alive after the runs: ${tf.memory().numTensors}`);
}
