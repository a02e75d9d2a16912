#!/usr/bin/env node
// The oneDNN convolutions (packages/native-kernels, docs/native-kernels.md) against pure tfjs-wasm, in one
// process, alternating per round so load drift on a shared machine hits both: `pg run` throughput
// (ResNet-18, MobileNetV2, ShuffleNetV2 at 224x224) with ONNX Runtime as the reference, and the fine-tuning
// step on the bundled model with the PyTorch reference (bench/pytorch_pg_step.py). Prints each figure with
// native on and off (and, for the step, native convolutions with the PG quantizer/gate composed: "convs
// only", PG_NATIVE_QUANT=0), and their ratios to the references. Needs the addon built (pnpm build with libdnnl-dev).
// Usage (after `pnpm build`; the 224 models come from fixtures/zoo/make_zoo.py --bench):
//   node bench/native-kernels.mjs [--rounds 2] [--batch 8] [--runs 2] [--models resnet18,mobilenet_v2,shufflenet_v2_x1_0]
//        [--step-batch 128] [--steps 10] [--no-run] [--no-step]
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  FINETUNE_DEFAULTS,
  OnnxRuntimeEngine,
  InterpreterEngine,
  activeNativeKernels,
  convertModel,
  disableNativeConv,
  enableNativeConv,
  finetune,
  initBackend,
  nativeUnavailableReason,
  openDataset,
  readModel,
} from '../packages/core/dist/internal.js';
import { runPgSteps } from './support/pg-step.mjs';
import { median, zooDir } from './support/zoo.mjs';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '2' },
    batch: { type: 'string', default: '8' },
    runs: { type: 'string', default: '2' },
    models: { type: 'string', default: 'resnet18,mobilenet_v2,shufflenet_v2_x1_0' },
    'step-batch': { type: 'string', default: '128' },
    steps: { type: 'string', default: '10' },
    'no-run': { type: 'boolean', default: false },
    'no-step': { type: 'boolean', default: false },
  },
});
const rounds = Number(values.rounds);
const batch = Number(values.batch);
const runs = Number(values.runs);
const root = fileURLToPath(new URL('..', import.meta.url));
const zoo = zooDir();
const python = '/usr/bin/python3';

await initBackend('wasm');
if (!activeNativeKernels()) {
  console.log(`native kernels are off (${nativeUnavailableReason()}): build them with libdnnl-dev + g++ (pnpm build)`);
  process.exit(1);
}
/**
 * Native on or off for this thread and for the training workers started after (they read PG_NATIVE and
 * PG_NATIVE_QUANT). 'conv': native convolutions with the PG quantizer/gate composed from tfjs ops.
 */
function native(on) {
  disableNativeConv();
  delete process.env.PG_NATIVE_QUANT;
  if (on === 'conv') process.env.PG_NATIVE_QUANT = '0';
  if (on) {
    delete process.env.PG_NATIVE;
    enableNativeConv();
  } else {
    process.env.PG_NATIVE = '0';
  }
}
const out = { machine_load: (await import('node:os')).loadavg(), run: [], step: [] };

if (!values['no-run']) {
  const names = values.models.split(',');
  if (names.some((n) => !existsSync(join(zoo, `${n}-224.onnx`)))) {
    const r = spawnSync(python, [join(root, 'fixtures/zoo/make_zoo.py'), '--bench', ...names.flatMap((n) => ['--only', n])], {
      stdio: 'inherit',
      env: { ...process.env, PG_ZOO_DIR: zoo },
    });
    if (r.status !== 0) throw new Error('make_zoo.py failed: it needs Debian python3-torchvision and python3-onnx');
  }
  const manifest = JSON.parse(readFileSync(join(zoo, 'manifest.json'), 'utf8'));
  for (const name of names) {
    const entry = manifest.models.find((m) => m.name === `${name}-224`);
    const model = await readModel(join(zoo, entry.file));
    const shape = [batch, ...entry.input_shape.slice(1)];
    const data = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(i));
    const feeds = { [model.graph.inputs[0].name]: { dtype: 'float32', shape, data } };
    const outputs = [model.graph.outputs[0].name];
    const pg = await new InterpreterEngine('wasm').load(model);
    const ort = await new OnnxRuntimeEngine().load(model);
    const speed = async (s) => {
      await s.run(feeds, outputs);
      const t0 = performance.now();
      for (let i = 0; i < runs; i++) await s.run(feeds, outputs);
      return (runs * batch * 1000) / (performance.now() - t0);
    };
    const on = [];
    const off = [];
    const ref = [];
    for (let r = 0; r < rounds; r++) {
      native(true);
      on.push(await speed(pg));
      native(false);
      off.push(await speed(pg));
      native(true);
      ref.push(await speed(ort));
    }
    await pg.dispose();
    await ort.dispose();
    const row = { model: name, native: median(on), wasm: median(off), ort: median(ref) };
    out.run.push(row);
    console.log(
      `run ${name.padEnd(20)} img/s: native ${row.native.toFixed(1)}, wasm ${row.wasm.toFixed(1)}, ORT ${row.ort.toFixed(1)}   pg/ORT native ${(row.native / row.ort).toFixed(2)}, wasm ${(row.wasm / row.ort).toFixed(2)}   native/wasm ${(row.native / row.wasm).toFixed(2)}x`,
    );
  }
}

if (!values['no-step']) {
  const stepBatch = Number(values['step-batch']);
  const steps = Number(values.steps);
  const model = await readModel(join(root, 'fixtures/models/resnet-fmnist.onnx'));
  const data = await openDataset('fashion-mnist:train', { mean: [0.286], std: [0.353] });
  const step = async () => {
    const { result } = await runPgSteps({ convertModel, finetune, FINETUNE_DEFAULTS }, model, data, { batchSize: stepBatch, maxSteps: steps + 3, calibrationBatches: 2 });
    return result.step_ms_median;
  };
  const hasTorch = spawnSync(python, ['-c', 'import torch, torchvision'], { encoding: 'utf8' }).status === 0;
  for (let r = 0; r < rounds; r++) {
    native(true);
    const on = await step();
    native('conv');
    const convOnly = await step();
    native(false);
    const off = await step();
    native(true);
    let torch;
    if (hasTorch) {
      const env = { ...process.env };
      delete env.OPENBLAS_CORETYPE;
      delete env.OPENBLAS_L2_SIZE;
      const p = spawnSync(python, [join(root, 'bench/pytorch_pg_step.py'), '--model', 'bundled', '--batch', String(stepBatch), '--steps', String(steps), '--warmup', '3'], {
        encoding: 'utf8',
        env,
      });
      if (p.status !== 0) throw new Error(`PyTorch reference failed: ${p.stderr}`);
      torch = JSON.parse(p.stdout.trim().split('\n').pop()).step_ms_median;
    }
    out.step.push({ round: r + 1, native: on, native_conv_only: convOnly, wasm: off, torch });
    const vs = torch
      ? `   pg/PyTorch native ${(on / torch).toFixed(2)}x, convs only ${(convOnly / torch).toFixed(2)}x, wasm ${(off / torch).toFixed(2)}x (PyTorch ${torch.toFixed(1)} ms)`
      : '   (PyTorch not installed)';
    console.log(
      `step bundled round ${r + 1} ms/step (batch ${stepBatch}): native ${on.toFixed(1)}, convs only ${convOnly.toFixed(1)}, wasm ${off.toFixed(1)}   wasm/native ${(off / on).toFixed(2)}x${vs}`,
    );
  }
}
console.log(JSON.stringify(out));
