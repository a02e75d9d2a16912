#!/usr/bin/env node
// `pg run` throughput (images/s) against ONNX Runtime's on the same models and inputs, side by side in one
// process: ResNet-18, MobileNetV2 and ShuffleNetV2 (torchvision, random weights) at batch 8, 224x224.
// pg runs through the same run backend as `pg run` (on wasm; load once, then time runs); ONNX Runtime
// through `pg run --runtime onnxruntime` (its default threads: one per core), and, for reference, with one
// thread (pg's wasm backend is single-threaded). Rounds alternate pg and ORT so load drift on a shared machine
// hits both; the median round is printed. Goal: pg / ORT >= 0.5.
//
// Usage (after `pnpm build`; the models come from fixtures/zoo/make_zoo.py --bench, run here when missing):
//   node bench/run-throughput.mjs [--batch 8] [--runs 3] [--rounds 3] [--models resnet18,mobilenet_v2,...]
import { createRequire } from 'node:module';
import { OnnxRuntimeEngine, InterpreterEngine, activeNativeKernels, initBackend, nativeUnavailableReason, readModel } from '../packages/core/dist/internal.js';
import { exportMissingZooModels, loadZooModel, median, openZoo, parseBenchArgs, timeRuns, zooDir } from './support/zoo.mjs';

// onnxruntime-node is a dependency of @pg/core, not of the workspace root.
const ort = createRequire(new URL('../packages/core/package.json', import.meta.url))('onnxruntime-node');

const { batch, runs, rounds, models: names } = parseBenchArgs({ runs: '3', rounds: '3' });
const zoo = openZoo(exportMissingZooModels(zooDir(), names));

/** Images per second of `runs` runs of a loaded session (after one warm-up run outside the timing). */
async function throughput(session, feeds, outputs) {
  const { ms } = await timeRuns(session, feeds, outputs, runs);
  return (batch * 1000) / ms;
}

/** ONNX Runtime with one intra-op thread, outside pg's backend (which keeps ORT's defaults). */
async function ortOneThread(path) {
  const s = await ort.InferenceSession.create(path, { intraOpNumThreads: 1, interOpNumThreads: 1, logSeverityLevel: 3 });
  return {
    run: async (feeds, outputs) => {
      const f = Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, new ort.Tensor('float32', t.data, t.shape)]));
      return s.run(f, outputs);
    },
    dispose: () => s.release(),
  };
}

// Which convolutions pg's wasm backend runs: oneDNN's (packages/native-kernels, when built) or tfjs-wasm's own.
await initBackend('wasm');
const convolutions = activeNativeKernels() ? 'oneDNN (native)' : `tfjs-wasm (native off: ${nativeUnavailableReason()})`;
console.log(`pg convolutions: ${convolutions}`);
const results = [];
for (const name of names) {
  const { entry, path, model, feeds, outputs } = await loadZooModel(zoo, name, batch, readModel);
  const pgSession = await new InterpreterEngine('wasm').load(model);
  const ortSession = await new OnnxRuntimeEngine().load(model);
  const ort1Session = await ortOneThread(path);
  const pg = [];
  const ortDefault = [];
  const ort1 = [];
  for (let r = 0; r < rounds; r++) {
    pg.push(await throughput(pgSession, feeds, outputs));
    ortDefault.push(await throughput(ortSession, feeds, outputs));
    ort1.push(await throughput(ort1Session, feeds, outputs));
  }
  await pgSession.dispose();
  await ortSession.dispose();
  await ort1Session.dispose();
  const row = { model: name, opset: entry.opset, batch, pg: median(pg), ort: median(ortDefault), ort_1_thread: median(ort1) };
  row.ratio = row.pg / row.ort;
  row.ratio_1_thread = row.pg / row.ort_1_thread;
  results.push(row);
  console.log(
    `${name.padEnd(20)} opset ${String(entry.opset).padStart(2)}  pg ${row.pg.toFixed(1).padStart(6)} img/s   ` +
      `ORT ${row.ort.toFixed(1).padStart(6)} img/s (1 thread ${row.ort_1_thread.toFixed(1).padStart(6)})   ` +
      `pg/ORT ${row.ratio.toFixed(2)} (vs 1 thread ${row.ratio_1_thread.toFixed(2)})  goal >= 0.5`,
  );
}
console.log(JSON.stringify({ batch, runs, rounds, convolutions, results }));
