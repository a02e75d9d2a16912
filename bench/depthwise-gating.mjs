#!/usr/bin/env node
// Depthwise convolutions gated (pg convert --gate-depthwise) or quantized statically, on torchvision's MobileNetV2
// and ShuffleNetV2 from the zoo (PG_ZOO_DIR, else .cache/zoo; fixtures/zoo/make_zoo.py: seeded random weights,
// BatchNorm statistics from random images, 64x64 inputs). There is no ImageNet here: each variant is converted
// (4/2 bits, 8-bit weights, static scales, the first layer at 8 bits, --gate-residual), calibrated (scales and
// thresholds at target sparsity 0.85) on the photos of fixtures/photos (PG_PHOTOS_DIR, else .cache/photos; the
// 11 good ones of layout.json, centre-cropped to 64x64, ImageNet's mean and std) and measured on the same photos
// against the float model and against the same model quantized statically (--mode static, calibrated the same
// way: what the gates add to the quantization error): top-1 agreement and the logits' relative error
// ‖y − y_ref‖ / ‖y_ref‖; the gated layers' sparsity, the whole model's share of gated MACs and its bit-serial cost
// against static 4-bit (pg report's whole_model). On random weights 4-bit quantization alone moves the logits
// a long way, so the bench also measures each gated layer alone, on the input it receives in the gated model:
// the error after its activation, ‖a(y) − a(y_float)‖ / ‖a(y_float)‖, gated (at the calibrated thresholds) and
// quantized statically at the same scale, summed over the depthwise layers and over the other gated layers.
// Run after `pnpm build`:
//   PG_ZOO_DIR=<zoo> PG_PHOTOS_DIR=<photos> node bench/depthwise-gating.mjs > bench/results/depthwise-gating.json
import { createRequire } from 'node:module';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  calibrate,
  convertModel,
  convNhwc,
  effectiveScale,
  Executor,
  fakeQuant,
  InMemoryDataset,
  initBackend,
  OBSERVE,
  openDataset,
  opRegistry,
  pgLayers,
  quantSplit,
  quantizeWeights,
  readModel,
  reportModel,
} from '../packages/core/dist/internal.js';
import { reportPricing } from '../packages/exporters/dist/index.js';
import { repoRoot as root, zooDir } from './support/zoo.mjs';

const tf = createRequire(new URL('../packages/core/package.json', import.meta.url))('@tensorflow/tfjs-core'); // core's instance
const MODELS = ['mobilenet_v2', 'shufflenet_v2_x1_0'];
const IMAGENET = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
const TARGET = 0.85;
const photos = process.env.PG_PHOTOS_DIR ? resolve(process.env.PG_PHOTOS_DIR) : join(root, '.cache', 'photos');
const layout = JSON.parse(readFileSync(join(root, 'fixtures/photos/layout.json'), 'utf8'));

await initBackend('wasm');
const price = await reportPricing([]);
const tmp = mkdtempSync(join(tmpdir(), 'pg-depthwise-'));

/** The photos as an ImageNet-style folder (one subfolder per class, as the image-folder tests build it). */
function photoFolder() {
  const dir = join(tmp, 'photos');
  for (const [cls, files] of Object.entries(layout.classes)) {
    mkdirSync(join(dir, cls), { recursive: true });
    for (const f of files) copyFileSync(join(photos, f), join(dir, cls, f));
  }
  return dir;
}

/** All samples of `ds` as one batch. */
async function allSamples(ds) {
  const xs = [];
  let shape;
  for await (const b of ds.batches(ds.size)) {
    xs.push(b.x);
    shape = b.shape;
  }
  if (xs.length !== 1) throw new Error('expected one batch');
  return { x: xs[0], shape };
}

/** The model's first output on x (logits), as a Float32Array [n, classes]; `inputs` collects the gated layers' inputs (NHWC). */
function logits(model, x, shape, inputs) {
  const exec = new Executor(model, { registry: opRegistry });
  const input = exec.graph.inputs.find((i) => !exec.graph.initializers.has(i.name)).name;
  const gated = new Set(
    pgLayers(model)
      .filter((l) => l.gated)
      .map((l) => l.node.name),
  );
  const observer = inputs && { wants: (n, k) => k === OBSERVE.input && gated.has(n.name), observe: (n, _k, t) => inputs.set(n.name, tf.keep(tf.clone(t))) };
  try {
    return tf.tidy(() =>
      Object.values(exec.run({ [input]: tf.tensor(x, shape) }, { observer }))[0]
        .dataSync()
        .slice(),
    );
  } finally {
    exec.dispose();
  }
}

/** The activation after a layer's output (Relu, or Clip as ReLU6), as the placement found it. */
function activationAfter(model, node) {
  const next = model.graph.nodes.find((n) => n.inputs[0] === node.outputs[0]);
  return next?.opType === 'Clip' ? (t) => tf.clipByValue(t, 0, 6) : (t) => tf.relu(t);
}

/**
 * Each gated layer alone on the input x it received: squared errors after its activation against its float
 * output, gated and quantized statically, and the updates it skipped; summed into `sums` per kind.
 */
function layerErrors(model, inputs, sums) {
  const init = (name) => {
    const c = model.graph.initializers.get(name);
    return tf.tensor(c.data(), c.dims);
  };
  for (const l of pgLayers(model).filter((p) => p.gated)) {
    const x = inputs.get(l.node.name);
    const kind = l.node.attributes.group?.value > 1 ? 'depthwise' : 'other';
    tf.tidy(() => {
      const act = activationAfter(model, l.node);
      const [w, b, delta] = [init(l.weight), l.bias && init(l.bias), init(l.threshold)];
      const s = effectiveScale(x, init(l.actScale), l.dynamic);
      const wq = quantizeWeights(w, l.wbits);
      const conv = (xi, wi, bi) => convNhwc(l.node, xi, wi, bi);
      const yf = act(conv(x, w, b));
      const yq = act(conv(fakeQuant(x, s, l.bits), wq, b));
      const { hb, lb } = quantSplit(x, s, l.bits, l.hbits);
      const ohb = conv(hb, wq, b);
      const m = tf.step(tf.sub(ohb, delta));
      const yg = act(tf.add(ohb, tf.mul(m, conv(lb, wq))));
      const sq = (a) => tf.sum(tf.square(tf.sub(a, yf))).dataSync()[0];
      const k = (sums[kind] ??= { layers: 0, ref: 0, gated: 0, static: 0, outputs: 0, skipped: 0 });
      k.layers += 1;
      k.ref += tf.sum(tf.square(yf)).dataSync()[0];
      k.gated += sq(yg);
      k.static += sq(yq);
      k.outputs += m.size;
      k.skipped += m.size - tf.sum(m).dataSync()[0];
    });
    x.dispose();
  }
}

const argmax = (y, n, c) =>
  Int32Array.from({ length: n }, (_, i) => {
    let best = 0;
    for (let k = 1; k < c; k++) if (y[i * c + k] > y[i * c + best]) best = k;
    return best;
  });

const relError = (y, ref) => {
  let num = 0;
  let den = 0;
  for (let i = 0; i < y.length; i++) {
    num += (y[i] - ref[i]) ** 2;
    den += ref[i] ** 2;
  }
  return Math.sqrt(num / den);
};

const folder = photoFolder();
const rows = [];
try {
  for (const name of MODELS) {
    const float = await readModel(join(zooDir(), `${name}.onnx`));
    const inputShape = float.graph.inputs[0].shape;
    const ds = await openDataset(folder, { ...IMAGENET, image: { inputShape } });
    const { x, shape } = await allSamples(ds);
    const yFloat = logits(float, x, shape);
    const classes = yFloat.length / shape[0];
    const top1 = argmax(yFloat, shape[0], classes);
    const per = x.length / shape[0];
    // Labels = the float model's top-1: accuracy is agreement with it.
    const agree = new InMemoryDataset({
      name: `photos (${shape[0]}), labels = float top-1`,
      size: shape[0],
      sampleShape: shape.slice(1),
      numClasses: classes,
      labels: top1,
      writeSample: (i, out, o) => out.set(x.subarray(i * per, (i + 1) * per), o),
    });
    const convert = (o) => convertModel(float, { bits: 4, hbits: 2, wbits: 8, actScale: 'static', firstLayerBits: 8, gateResidual: true, ...o });
    const calibrateOn = (m) => calibrate(m, agree, { batches: 1, batchSize: shape[0], seed: 0, scales: true, targetSparsity: TARGET });
    const yStatic = logits(await calibrateOn(convert({ mode: 'static' }).model), x, shape);
    const top1Static = argmax(yStatic, shape[0], classes);
    for (const gateDepthwise of [false, true]) {
      const { model, layers } = convert({ gateDepthwise });
      const calibrated = await calibrateOn(model);
      const r = await reportModel(calibrated, agree, { batchSize: shape[0] });
      const w = price(r).whole_model;
      const inputs = new Map();
      const y = logits(calibrated, x, shape, inputs);
      const sums = {};
      layerErrors(calibrated, inputs, sums);
      const top1 = argmax(y, shape[0], classes);
      const row = {
        model: name,
        gate_depthwise: gateDepthwise,
        samples: r.samples,
        top1_agreement_float: r.accuracy,
        top1_agreement_static: top1.filter((c, i) => c === top1Static[i]).length / shape[0],
        logits_rel_error_float: relError(y, yFloat),
        logits_rel_error_static: relError(y, yStatic),
        static_logits_rel_error_float: relError(yStatic, yFloat),
        sparsity: r.sparsity,
        gated_layers: layers.filter((l) => l.gated).length,
        gated_mac_fraction: w.gated_mac_fraction,
        act_bits: w.act_bits,
        bitops_vs_static_b: w.bitops_vs_static_b,
        // per kind of gated layer, each alone: relative error after the activation, gated and static, and sparsity
        layers_alone: Object.fromEntries(
          Object.entries(sums).map(([k, v]) => [
            k,
            {
              layers: v.layers,
              gated_rel_error: Math.sqrt(v.gated / v.ref),
              static_rel_error: Math.sqrt(v.static / v.ref),
              sparsity: v.skipped / v.outputs,
            },
          ]),
        ),
      };
      rows.push(row);
      process.stderr.write(`${JSON.stringify(row)}\n`);
    }
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
console.log(JSON.stringify({ command: 'PG_ZOO_DIR=<zoo> PG_PHOTOS_DIR=<photos> node bench/depthwise-gating.mjs', target_sparsity: TARGET, rows }, null, 1));
