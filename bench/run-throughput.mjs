#!/usr/bin/env node
// `pg run` throughput (images/s) against ONNX Runtime's on the same models and inputs, side by side in one
// process: ResNet-18, MobileNetV2 and ShuffleNetV2 (torchvision, random weights) at batch 8, 224x224.
// pg runs through the same run backend as `pg run --backend wasm` (load once, then time runs); ONNX Runtime
// through `pg run --backend onnxruntime` (its default threads: one per core), and, for reference, with one
// thread (pg's wasm backend is single-threaded). Rounds alternate pg and ORT so load drift on a shared machine
// hits both; the median round is printed. Goal (issue 3): pg / ORT >= 0.5.
//
// Usage (after `pnpm build`; the models come from fixtures/zoo/make_zoo.py --bench, run here when missing):
//   node bench/run-throughput.mjs [--batch 8] [--runs 3] [--rounds 3] [--models resnet18,mobilenet_v2,...]
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createRequire } from 'node:module';
import { OnnxRuntimeBackend, TfjsRunBackend, activeNativeKernels, initBackend, nativeUnavailableReason, readModel } from '../packages/core/dist/index.js';

// onnxruntime-node is a dependency of @pg/core, not of the workspace root.
const ort = createRequire(new URL('../packages/core/package.json', import.meta.url))('onnxruntime-node');

const { values } = parseArgs({
  options: {
    batch: { type: 'string', default: '8' },
    runs: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '3' },
    models: { type: 'string', default: 'resnet18,mobilenet_v2,shufflenet_v2_x1_0' },
  },
});
const batch = Number(values.batch);
const runs = Number(values.runs);
const rounds = Number(values.rounds);
const names = values.models.split(',');
const root = fileURLToPath(new URL('..', import.meta.url));
const zoo = process.env.PG_ZOO_DIR ? resolve(process.env.PG_ZOO_DIR) : join(root, '.cache', 'zoo');

const missing = names.filter((n) => !existsSync(join(zoo, `${n}-224.onnx`)));
if (missing.length > 0) {
  console.log(`exporting ${missing.join(', ')} at 224x224 into ${zoo} (fixtures/zoo/make_zoo.py --bench)...`);
  const env = { ...process.env, PG_ZOO_DIR: zoo };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  const args = [join(root, 'fixtures/zoo/make_zoo.py'), '--bench', ...missing.flatMap((n) => ['--only', n])];
  const r = spawnSync('/usr/bin/python3', args, { stdio: 'inherit', env });
  if (r.status !== 0) throw new Error('make_zoo.py failed: it needs Debian python3-torchvision and python3-onnx');
}
const manifest = JSON.parse(readFileSync(join(zoo, 'manifest.json'), 'utf8'));

/** A fixed pseudo-random input (the numbers do not matter for speed, but NaN-free and the same for both). */
function input(shape) {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  let s = 12345;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    data[i] = (s / 2 ** 32) * 2 - 1;
  }
  return { dtype: 'float32', shape, data };
}

/** Images per second of `runs` runs of a loaded session (after one warm-up run outside the timing). */
async function throughput(session, feeds, outputs) {
  await session.run(feeds, outputs);
  const t0 = performance.now();
  for (let i = 0; i < runs; i++) await session.run(feeds, outputs);
  return (runs * batch * 1000) / (performance.now() - t0);
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

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
// Which convolutions pg's wasm backend runs: oneDNN's (packages/native-kernels, when built) or tfjs-wasm's own.
await initBackend('wasm');
const convolutions = activeNativeKernels() ? 'oneDNN (native)' : `tfjs-wasm (native off: ${nativeUnavailableReason()})`;
console.log(`pg convolutions: ${convolutions}`);
const results = [];
for (const name of names) {
  const entry = manifest.models.find((m) => m.name === `${name}-224`);
  const path = join(zoo, entry.file);
  const model = await readModel(path);
  const feeds = { [model.graph.inputs[0].name]: input([batch, ...entry.input_shape.slice(1)]) };
  const outputs = [model.graph.outputs[0].name];
  const pgSession = await new TfjsRunBackend('wasm').load(model);
  const ortSession = await new OnnxRuntimeBackend().load(model);
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
