#!/usr/bin/env node
// Where pg and ONNX Runtime part ways on a zoo model: every float node output of the plain or the gated
// model (zoo test's conversion, pg convert's defaults: 4/2 bits, 8-bit weights, static scales, the first layer at
// 8 bits, or float with --first-layer-bits float) is made a graph output and computed
// by both on the zoo data; nodes are listed in graph order with their max relative difference, the first
// ones above --threshold first. Usage (after `pnpm build` and make_zoo.py):
//   node bench/trace-divergence.mjs [--model densenet121] [--gated [--first-layer-bits 8|float]] [--threshold 1e-5] [--show 12]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FIRST_LAYER_BITS_DEFAULT, convertModel, isPgNode, maxRelativeDifference, openDataset, readModel, runModel, writeModel } from '../packages/core/dist/internal.js';
import { zooDir } from './support/zoo.mjs';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'densenet121' },
    gated: { type: 'boolean', default: false },
    'first-layer-bits': { type: 'string', default: String(FIRST_LAYER_BITS_DEFAULT) },
    threshold: { type: 'string', default: '1e-5' },
    show: { type: 'string', default: '12' },
  },
});
const zoo = zooDir();
const entry = JSON.parse(readFileSync(join(zoo, 'manifest.json'), 'utf8')).models.find((m) => m.name === values.model);
if (!entry) throw new Error(`${values.model} is not in ${zoo}/manifest.json: run fixtures/zoo/make_zoo.py`);
let model = await readModel(join(zoo, entry.file));
const tmp = mkdtempSync(join(tmpdir(), 'pg-trace-'));
if (values.gated) {
  const path = join(tmp, 'gated.onnx');
  const first = values['first-layer-bits'];
  await writeModel(convertModel(model, { bits: 4, hbits: 2, wbits: 8, actScale: 'static', firstLayerBits: first === 'float' ? undefined : Number(first) }).model, path);
  model = await readModel(path);
}
const data = await openDataset(join(zoo, entry.data));
const batch = [...data.batches(4, { limit: 4 })][0];
const feeds = { [model.graph.inputs[0].name]: { dtype: 'float32', shape: batch.shape, data: batch.x } };

// Float activations only: the outputs of ops that compute on activations (not the shape arithmetic).
const ACTIVATION_OPS = new Set([
  'Conv',
  'Relu',
  'BatchNormalization',
  'Concat',
  'AveragePool',
  'MaxPool',
  'GlobalAveragePool',
  'Flatten',
  'Gemm',
  'Add',
  'Mul',
  'Clip',
  'Sigmoid',
  'ReduceMean',
  'Dropout',
]);
const probed = model.graph.nodes.filter((n) => isPgNode(n) || ACTIVATION_OPS.has(n.opType));
// A gated layer's input too, to count the activation codes that differ between the runtimes.
const probes = [...new Set(probed.flatMap((n) => (isPgNode(n) ? [n.inputs[0], n.outputs[0]] : [n.outputs[0]])))];
const withProbes = {
  ...model,
  sourcePath: undefined,
  graph: { ...model.graph, outputs: [...model.graph.outputs, ...probes.filter((p) => !model.graph.outputs.some((o) => o.name === p)).map((name) => ({ name, dtype: 'float32' }))] },
};
const theirs = (await runModel(withProbes, feeds, { engine: 'onnxruntime', outputs: probes })).outputs;
const ours = (await runModel(withProbes, feeds, { engine: 'wasm', outputs: probes })).outputs;
rmSync(tmp, { recursive: true, force: true });

const threshold = Number(values.threshold);
const rows = probed.map((n) => {
  const a = ours[n.outputs[0]].data;
  const b = theirs[n.outputs[0]].data;
  let differing = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) differing++;
  return { node: n, d: maxRelativeDifference(a, b), differing, size: a.length };
});
console.log(`${values.model} ${values.gated ? 'gated' : 'plain'}: ${rows.length} activations compared, output ${rows[rows.length - 1].d.toExponential(2)}`);
const first = rows.findIndex((r) => r.d > threshold);
console.log(first < 0 ? `none above ${threshold}` : `first above ${threshold}: #${first} ${rows[first].node.opType} '${rows[first].node.name}'`);
console.log(
  `  worst before it: ${rows
    .slice(0, first < 0 ? rows.length : first)
    .reduce((m, r) => Math.max(m, r.d), 0)
    .toExponential(2)}`,
);
for (const r of rows.slice(Math.max(0, first - 2), Math.max(0, first - 2) + Number(values.show))) {
  console.log(`  ${r.node.opType.padEnd(18)} ${r.d.toExponential(2).padStart(9)}  ${String(r.differing).padStart(7)}/${r.size} elements differ  ${r.node.name}`);
}

/** q = round_half_even(clip(|x| / s, 0, 1) * n) in float32, as docs/gated-format.md writes it. */
function code(x, s, n) {
  const r = Math.fround(Math.min(Math.fround(Math.abs(x) / s), 1) * n);
  const f = Math.floor(r);
  const d = r - f;
  return d > 0.5 ? f + 1 : d < 0.5 ? f : f % 2 === 0 ? f : f + 1;
}
// For the gated layers up to the first divergence: how many of their input codes differ between the runtimes,
// and how far the inputs whose codes differ are apart (a code moves only when x/s*n is within rounding of a
// boundary).
const last = first < 0 ? rows.length - 1 : first;
for (const r of rows.slice(0, last + 1).filter((r) => isPgNode(r.node) && r.node.attributes.dynamic_scale?.value !== 1)) {
  const n = 2 ** r.node.attributes.bits.value - 1;
  const scale = model.graph.initializers.get(r.node.inputs[4]);
  if (!scale) continue;
  const s = Number(scale.data()[0]);
  const a = ours[r.node.inputs[0]].data;
  const b = theirs[r.node.inputs[0]].data;
  let codes = 0;
  let apart = 0;
  for (let i = 0; i < a.length; i++) {
    if (code(a[i], s, n) !== code(b[i], s, n)) {
      codes++;
      apart = Math.max(apart, Math.abs(a[i] - b[i]) / Math.max(Math.abs(b[i]), 1e-30));
    }
  }
  if (codes > 0 || r === rows[last])
    console.log(`  ${r.node.name}: ${codes} of ${a.length} input codes differ (inputs at most ${apart.toExponential(1)} apart, relative); output ${r.d.toExponential(2)}`);
}
