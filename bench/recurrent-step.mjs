#!/usr/bin/env node
// Float training step of a recurrent network on pg's runtime against PyTorch's step of the same network
// (bench/pytorch_recurrent_step.py, which also exports it), measured one after the other on this machine and
// printed as a ratio (absolute times drift on shared machines; the ratio is the figure to compare). Networks:
// row-lstm (an LSTM of 64 units reading a 28x28 image as 28 steps of 28 pixels, batch 128) and char-lm (Embedding
// of 63 characters, LSTM 128, a Linear at every step of 64, batch 128): the fixtures' architectures
// (fixtures/make_recurrent.py), with random weights. The step: forward, cross-entropy, back-propagation through time,
// Adam on every weight.
// Usage (after `pnpm build`):
//   node bench/recurrent-step.mjs [--models row-lstm,char-lm] [--batch 128] [--steps 10] [--rounds 1] [--out FILE]
// --rounds R alternates pg and PyTorch R times per network and prints each round's ratio and their median.
// --out writes the JSON rows (bench/results/ keeps the committed ones).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createRequire } from 'node:module';
import { Executor, activeNativeKernels, initBackend, mulberry32, nativeUnavailableReason, opRegistry, readModel } from '../packages/core/dist/internal.js';

const { values } = parseArgs({
  options: {
    models: { type: 'string', default: 'row-lstm,char-lm' },
    batch: { type: 'string', default: '128' },
    steps: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '1' },
    backend: { type: 'string', default: 'wasm' },
    out: { type: 'string' },
  },
});
const tf = createRequire(new URL('../packages/core/package.json', import.meta.url))('@tensorflow/tfjs-core');
const root = fileURLToPath(new URL('..', import.meta.url));
const python = '/usr/bin/python3';
const batch = Number(values.batch);
const steps = Number(values.steps);
const warmup = Number(values.warmup);
const VOCAB = 63;
const SEQ = 64;

function torch(model, extra = []) {
  const env = { ...process.env };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  const r = spawnSync(
    python,
    [`${root}bench/pytorch_recurrent_step.py`, '--model', model, '--batch', String(batch), '--steps', String(steps), '--warmup', String(warmup), ...extra],
    { encoding: 'utf8', env },
  );
  if (r.status !== 0) throw new Error(`PyTorch reference failed: ${r.stderr}`);
  if (extra.includes('--export')) return undefined;
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

/** Seeded inputs and labels of the network's step (random: the step's time does not depend on the values). */
function batchOf(model) {
  const rand = mulberry32(1);
  if (model === 'row-lstm') {
    return {
      x: tf.tensor(
        Float32Array.from({ length: batch * 28 * 28 }, () => rand() * 2 - 1),
        [batch, 28, 28],
      ),
      y: tf.tensor1d(
        Int32Array.from({ length: batch }, () => Math.floor(rand() * 10)),
        'int32',
      ),
      classes: 10,
    };
  }
  const ids = (n) => Int32Array.from({ length: n }, () => Math.floor(rand() * VOCAB));
  return { x: tf.tensor(ids(batch * SEQ), [batch, SEQ], 'int32'), y: tf.tensor1d(ids(batch * SEQ), 'int32'), classes: VOCAB };
}

async function pgStep(name, path) {
  const model = await readModel(path);
  const exec = new Executor(model, { registry: opRegistry });
  const vars = [];
  for (const [pname, ct] of model.graph.initializers) {
    if (ct.dtype !== 'float32' || ct.dims.length === 0) continue;
    const v = tf.variable(exec.param(pname), true, pname);
    exec.setParam(pname, v);
    vars.push(v);
  }
  const opt = tf.train.adam(1e-3);
  const { x, y, classes } = batchOf(name);
  const input = model.graph.inputs[0].name;
  const times = [];
  for (let i = 0; i < steps + warmup; i++) {
    const t0 = performance.now();
    const cost = opt.minimize(
      () => {
        const logits = Object.values(exec.run({ [input]: x }, { training: true }))[0];
        return tf.losses.softmaxCrossEntropy(tf.oneHot(y, classes), tf.reshape(logits, [-1, classes]));
      },
      true,
      vars,
    );
    await cost.data();
    cost.dispose();
    if (i >= warmup) times.push(performance.now() - t0);
  }
  exec.dispose();
  tf.dispose([x, y, ...vars]);
  opt.dispose();
  times.sort((a, b) => a - b);
  return { step_ms_median: times[times.length >> 1], steps, batch };
}

await initBackend(values.backend);
console.log(`pg native kernels: ${activeNativeKernels() ? 'oneDNN (native)' : `off (${nativeUnavailableReason()})`}`);
const dir = mkdtempSync(join(tmpdir(), 'pg-recurrent-bench-'));
const rows = [];
try {
  for (const name of values.models.split(',')) {
    const path = join(dir, `${name}.onnx`);
    torch(name, ['--steps', '0', '--warmup', '0', '--export', path]);
    const ratios = [];
    for (let round = 1; round <= Number(values.rounds); round++) {
      const pg = await pgStep(name, path);
      const th = torch(name);
      const ratio = pg.step_ms_median / th.step_ms_median;
      ratios.push(ratio);
      console.log(
        `${name} round ${round}: pg ${pg.step_ms_median.toFixed(1)} ms/step, PyTorch ${th.torch} (${th.threads} threads) ${th.step_ms_median.toFixed(1)} ms/step, ratio ${ratio.toFixed(2)}x (target <= 1.5x)`,
      );
      rows.push({ model: name, round, pg, torch: th, ratio });
    }
    const sorted = [...ratios].sort((a, b) => a - b);
    const mid = sorted.length >> 1;
    console.log(`${name} median ratio over ${ratios.length} round(s): ${(sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2).toFixed(2)}x`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log(JSON.stringify(rows));
if (values.out)
  writeFileSync(
    values.out,
    `${JSON.stringify({ command: `node bench/recurrent-step.mjs ${process.argv.slice(2).join(' ')}`.trim(), native: activeNativeKernels() !== undefined, rows }, null, 1)}\n`,
  );
