#!/usr/bin/env node
// How much calibration's tie-free cut (gating/recurrent-gate.ts, calibrateRecurrentGate) moves a gated LSTM's
// thresholds against the plain quantile cut it replaced (halfway between the two samples at the target, which sat on
// a sample where both were equal): the recurrent fixtures converted 4/2/8 (rule knee), calibrated to 0.85 on a
// seeded sample, then each unit's gate statistic over 512 sequences (every gate on) cut both ways.
// Usage (after `pnpm build`): node bench/recurrent-threshold-ties.mjs [--out FILE]
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  calibrate,
  calibrateRecurrentGate,
  convertModel,
  Executor,
  initBackend,
  OBSERVE,
  openDataset,
  opRegistry,
  readModel,
  rowSequences,
  thresholdName,
} from '../packages/core/dist/internal.js';

const tf = createRequire(new URL('../packages/core/package.json', import.meta.url))('@tensorflow/tfjs-core');

const { values } = parseArgs({ options: { out: { type: 'string' } } });
const root = fileURLToPath(new URL('../', import.meta.url));
const TARGET = 0.85;
const NORM = { mean: [0.286], std: [0.353] };
await initBackend('wasm');

const fixtures = [
  ['row-lstm-fmnist', async () => rowSequences(await openDataset('fashion-mnist:train', NORM))],
  ['char-lm-kjv', () => openDataset(`${root}fixtures/data/kjv-chars/test-subset.npz`)],
];
const rows = [];
for (const [name, open] of fixtures) {
  const data = await open();
  const { model } = convertModel(await readModel(`${root}fixtures/models/${name}.onnx`), { bits: 4, hbits: 2, wbits: 8, actScale: 'static' });
  const cal = await calibrate(model, data, { batches: 4, batchSize: 128, seed: 0, scales: true, targetSparsity: TARGET });
  const node = cal.graph.nodes.find((n) => n.opType === 'PGLSTM');
  const thr = thresholdName(node.name);
  const dims = cal.graph.initializers.get(thr).dims;
  const units = dims[0] * dims[1];
  const exec = new Executor(cal, { registry: opRegistry });
  exec.setParam(thr, tf.fill(dims, -Infinity));
  const perUnit = Array.from({ length: units }, () => []);
  const observer = {
    wants: (n, k) => n === node && k === OBSERVE.prediction,
    observe: (_n, _k, t) => {
      const v = t.dataSync();
      for (let i = 0; i < v.length; i++) perUnit[i % units].push(v[i]);
    },
  };
  for await (const b of data.batches(128, { limit: 512, shuffle: true, seed: 0 })) {
    tf.tidy(() => void exec.run({ [cal.graph.inputs[0].name]: tf.tensor(b.x, b.shape) }, { outputs: [node.outputs[0]], observer }));
  }
  exec.dispose();
  const samples = perUnit.map((v) => Float32Array.from(v));
  const tieFree = calibrateRecurrentGate('above', samples, TARGET);
  let moved = 0;
  let onSample = 0;
  let shift = 0;
  let largest = 0;
  samples.forEach((unit, i) => {
    const v = Float32Array.from(unit).sort();
    const k = Math.floor(TARGET * v.length);
    const plain = Math.fround((v[k - 1] + v[k]) / 2);
    if (v.includes(plain)) onSample++;
    if (plain === tieFree[i]) return;
    moved++;
    const off = (delta) => v.filter((z) => z <= delta).length / v.length;
    const d = off(tieFree[i]) - off(plain);
    shift += d;
    largest = Math.max(largest, Math.abs(d));
  });
  const row = { model: name, units, samples_per_unit: samples[0].length, plain_cut_on_a_sample: onSample, moved, mean_sparsity_shift: shift / units, largest_unit_shift: largest };
  console.log(JSON.stringify(row));
  rows.push(row);
}
if (values.out) writeFileSync(values.out, `${JSON.stringify({ command: `node bench/recurrent-threshold-ties.mjs --out ${values.out}`, rows }, null, 2)}\n`);
