#!/usr/bin/env node
// Gate rules for precision gating inside an LSTM (gating/recurrent-gate.ts, docs/method.md "Recurrent layers"),
// compared by measurement on the recurrent fixtures, without fine-tuning: thresholds calibrated per unit to a
// target sparsity from z_hb on calibration data (every gate on), then test accuracy (row-lstm, Fashion-MNIST's
// 10,000 test images) or perplexity per character (char-lm, the KJV test split) and the sparsity measured on the
// test data. Rows: float, static B-bit (every gate on), B_hb bits only (every gate off), and each rule at each
// target. B_avg = B_hb + (1 − Sp)·(B − B_hb) covers the LSTM's products only (not the whole model).
// Usage (after `pnpm build`; char-lm reads .cache/kjv-chars/, written by fixtures/make_recurrent.py --only charlm):
//   node bench/recurrent-gate-rules.mjs [--models row-lstm,char-lm] [--bits 8] [--hbits 4] [--sparsity 0.5,0.75,0.9]
//     [--calibration 256] [--test 0 (all)] [--out FILE]
import { existsSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  Executor,
  RECURRENT_GATE_RULES,
  calibrateRecurrentGate,
  collectBatches,
  initBackend,
  openNpzDataset,
  opRegistry,
  readIdxFile,
  readModel,
  recurrentGateRegistry,
} from '../packages/core/dist/internal.js';

const { values } = parseArgs({
  options: {
    models: { type: 'string', default: 'row-lstm,char-lm' },
    bits: { type: 'string', default: '8' },
    hbits: { type: 'string', default: '4' },
    wbits: { type: 'string', default: '8' },
    sparsity: { type: 'string', default: '0.5,0.75,0.9' },
    calibration: { type: 'string', default: '256' },
    test: { type: 'string', default: '0' },
    batch: { type: 'string', default: '256' },
    out: { type: 'string' },
  },
});
const tf = createRequire(new URL('../packages/core/package.json', import.meta.url))('@tensorflow/tfjs-core');
const root = fileURLToPath(new URL('..', import.meta.url));
const bits = Number(values.bits);
const hbits = Number(values.hbits);
const wbits = Number(values.wbits);
const batchSize = Number(values.batch);
const calibrationCount = Number(values.calibration);
const testCount = Number(values.test);
const FMNIST = '/usr/share/datasets/fashion-mnist';

/** Samples as [{ x: Float32Array, shape, y: Int32Array }] batches; x is the model's input (floats or token ids). */
async function fashionMnist(split, count, model) {
  const meta = model.metadata ?? {};
  const mean = Number(meta['pg.preprocess.mean'] ?? 0);
  const std = Number(meta['pg.preprocess.std'] ?? 1);
  const prefix = split === 'train' ? 'train' : 't10k';
  const images = await readIdxFile(`${FMNIST}/${prefix}-images-idx3-ubyte.gz`);
  const labels = await readIdxFile(`${FMNIST}/${prefix}-labels-idx1-ubyte.gz`);
  const n = count > 0 ? Math.min(count, images.shape[0]) : images.shape[0];
  const out = [];
  for (let i = 0; i < n; i += batchSize) {
    const m = Math.min(batchSize, n - i);
    const x = Float32Array.from(images.data.subarray(i * 784, (i + m) * 784), (p) => (p / 255 - mean) / std);
    out.push({ x, shape: [m, 28, 28], y: Int32Array.from(labels.data.subarray(i, i + m)), dtype: 'float32' });
  }
  return out;
}

async function kjv(split, count) {
  const path = `${root}.cache/kjv-chars/${split}.npz`;
  if (!existsSync(path)) throw new Error(`${path} is missing: run fixtures/make_recurrent.py --only charlm (it writes the splits there)`);
  const batches = await collectBatches((await openNpzDataset(path)).batches(batchSize));
  const out = [];
  let left = count > 0 ? count : Infinity;
  for (const b of batches) {
    if (left <= 0) break;
    const m = Math.min(b.shape[0], left);
    const t = b.shape[1];
    out.push({ x: Int32Array.from(b.x.subarray(0, m * t)), shape: [m, t], y: b.y.subarray(0, m * t), dtype: 'int32' });
    left -= m;
  }
  return out;
}

const MODELS = {
  'row-lstm': { file: 'fixtures/models/row-lstm-fmnist.onnx', data: fashionMnist, metric: 'accuracy' },
  'char-lm': { file: 'fixtures/models/char-lm-kjv.onnx', data: (split, count) => kjv(split, count), metric: 'perplexity' },
};

/** The metric over the batches: accuracy, or perplexity exp(mean cross-entropy) over every predicted token. */
function evaluate(exec, input, batches, metric) {
  let right = 0;
  let nll = 0;
  let count = 0;
  for (const b of batches) {
    tf.tidy(() => {
      const logits = Object.values(exec.run({ [input]: tf.tensor(b.x, b.shape, b.dtype) }))[0];
      const classes = logits.shape[logits.shape.length - 1];
      const flat = tf.reshape(logits, [-1, classes]);
      const labels = tf.tensor1d(b.y, 'int32');
      if (metric === 'accuracy') right += tf.sum(tf.cast(tf.equal(tf.argMax(flat, 1), labels), 'int32')).dataSync()[0];
      else nll += -tf.sum(tf.mul(tf.logSoftmax(flat), tf.oneHot(labels, classes))).dataSync()[0];
      count += labels.shape[0];
    });
  }
  return metric === 'accuracy' ? right / count : Math.exp(nll / count);
}

/** Runs `fn` with an executor of the gated registry and counts the gates it records: the share off. */
function gated(model, node, layer, fn) {
  let off = 0;
  let all = 0;
  const record = (d, zhb, m) => {
    off += m.size - tf.sum(m).dataSync()[0];
    all += m.size;
    layer.record?.(d, zhb, m);
  };
  const exec = new Executor(model, { registry: recurrentGateRegistry(new Map([[node.name, { ...layer, record }]])) });
  try {
    const value = fn(exec);
    return { value, sparsity: all ? off / all : 0 };
  } finally {
    exec.dispose();
  }
}

await initBackend('wasm');
const rows = [];
for (const name of values.models.split(',')) {
  const spec = MODELS[name];
  const model = await readModel(`${root}${spec.file}`);
  const lstms = model.graph.nodes.filter((n) => n.opType === 'LSTM');
  if (lstms.length !== 1) throw new Error(`${name}: expected one LSTM node, found ${lstms.length}`);
  const node = lstms[0];
  const input = model.graph.inputs[0].name;
  const calibration = await spec.data('train', calibrationCount, model);
  const test = await spec.data('test', testCount, model);
  const float = new Executor(model, { registry: opRegistry });
  // The LSTM input's static scale: its largest magnitude on the calibration data.
  let inputScale = 0;
  for (const b of calibration) {
    tf.tidy(() => {
      const x = float.run({ [input]: tf.tensor(b.x, b.shape, b.dtype) }, { outputs: [node.inputs[0]] })[node.inputs[0]];
      inputScale = Math.max(inputScale, tf.max(tf.abs(x)).dataSync()[0]);
    });
  }
  const floatMetric = evaluate(float, input, test, spec.metric);
  float.dispose();
  const base = { bits, hbits, wbits, inputScale, stateScale: 1 };
  const report = (label, rule, target, r) => {
    const row = {
      model: name,
      gates: label,
      rule,
      target_sparsity: target,
      metric: spec.metric,
      value: r.value,
      sparsity: r.sparsity,
      b_avg: label === 'float' ? null : hbits + (1 - r.sparsity) * (bits - hbits),
    };
    rows.push(row);
    console.log(
      `${name} ${label}${rule ? ` ${rule} @ ${target}` : ''}: ${spec.metric} ${r.value.toFixed(4)}, sparsity ${r.sparsity.toFixed(3)}, B_avg ${row.b_avg === null ? 'float' : row.b_avg.toFixed(2)} (LSTM products)`,
    );
  };
  report('float', undefined, undefined, { value: floatMetric, sparsity: 0 });
  // z_hb of every unit with every gate on, for the thresholds: chunks per step, [N, 4·H] each.
  const chunks = [];
  gated(model, node, { ...base, rule: 'above', record: (_d, zhb) => chunks.push(zhb.dataSync().slice()) }, (exec) => evaluate(exec, input, calibration, spec.metric));
  // 4·H units (R is [D, 4·H, H]; the fixtures' LSTMs have one direction).
  const width = Number(model.graph.initializers.get(node.inputs[2]).dims[1]);
  const samples = Array.from({ length: width }, () => []);
  for (const c of chunks) for (let i = 0; i < c.length; i++) samples[i % width].push(c[i]);
  const unitSamples = samples.map((s) => Float32Array.from(s));
  report(
    `static ${bits}-bit`,
    undefined,
    undefined,
    gated(model, node, { ...base, rule: 'above' }, (exec) => evaluate(exec, input, test, spec.metric)),
  );
  const all = (v) => tf.fill([1, width], v);
  report(
    `${hbits}-bit high part only`,
    undefined,
    undefined,
    gated(model, node, { ...base, rule: 'above', delta: all(Infinity) }, (exec) => evaluate(exec, input, test, spec.metric)),
  );
  for (const rule of RECURRENT_GATE_RULES) {
    for (const target of values.sparsity.split(',').map(Number)) {
      const delta = tf.tensor2d(calibrateRecurrentGate(rule, unitSamples, target), [1, width]);
      report(
        'gated',
        rule,
        target,
        gated(model, node, { ...base, rule, delta }, (exec) => evaluate(exec, input, test, spec.metric)),
      );
      delta.dispose();
    }
  }
}
const command = `node bench/recurrent-gate-rules.mjs ${process.argv.slice(2).join(' ')}`.trim();
if (values.out) writeFileSync(values.out, `${JSON.stringify({ command, bits, hbits, wbits, calibration: calibrationCount, rows }, null, 1)}\n`);
