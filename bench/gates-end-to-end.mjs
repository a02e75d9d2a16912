#!/usr/bin/env node
// Gate decisions of pg against ONNX Runtime on all bundled test images (1000), for the gated models the
// tests use (4/2/8 bits, calibrated to 85% sparsity on the bundled training data, seed 0):
//  - end to end: each runtime feeds its own values forward (the float stem, pools and residual adds round in
//    each runtime's summation order);
//  - the same input: each gated layer alone in ONNX Runtime, fed the input pg's layer received (the guarantee
//    of gated format 2: 0 expected);
//  - why end-to-end decisions differ: how many of each gated layer's inputs differ between the runtimes, and
//    how many of them get another activation code.
// With --first-layer-bits N the first layer (the stem) is quantized statically at N bits (pg convert
// --first-layer-bits) instead of kept float: the path from the input to every gate is then integer-exact
// (0 expected end to end too).
// Run after `pnpm build`:   node bench/gates-end-to-end.mjs [--batch 50] [--limit 1000] [--first-layer-bits 8]
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = fileURLToPath(new URL('..', import.meta.url));
const c = await import(join(root, 'packages/core/dist/internal.js'));
const require = createRequire(join(root, 'packages/core/package.json'));
const tf = require('@tensorflow/tfjs-core'); // the instance core's dist uses (package main)
const ort = require('onnxruntime-node');
const { values } = parseArgs({ options: { batch: { type: 'string', default: '50' }, limit: { type: 'string', default: '1000' }, 'first-layer-bits': { type: 'string' } } });
const firstLayerBits = values['first-layer-bits'] === undefined ? undefined : Number(values['first-layer-bits']);
const NORM = { mean: [0.286], std: [0.353] };

/** Round half to even (ONNX Round, tf.round). */
function roundHalfEven(x) {
  const f = Math.floor(x);
  const d = x - f;
  return d < 0.5 ? f : d > 0.5 ? f + 1 : f % 2 === 0 ? f : f + 1;
}

/** One gated layer alone (its function inlined), as an ONNX Runtime session returning the gate. */
async function layerSession(gated, node, dir) {
  const nodes = c.inlineFunctions({ ...gated, graph: { ...gated.graph, nodes: [node] } }, c.isPgNode).nodes;
  const greater = nodes.find((n) => n.opType === 'Greater');
  const used = new Set(nodes.flatMap((n) => n.inputs));
  const graph = {
    ...gated.graph,
    nodes,
    initializers: new Map([...gated.graph.initializers].filter(([k]) => used.has(k))),
    inputs: [{ name: node.inputs[0], dtype: 'float32' }],
    outputs: [{ name: greater.outputs[0], dtype: 'bool' }],
    valueInfo: new Map(),
  };
  const path = join(dir, `${node.name.replace(/\W/g, '_')}.onnx`);
  await c.writeModel({ ...gated, graph }, path);
  return { session: await ort.InferenceSession.create(path), gate: greater.outputs[0] };
}

await c.initBackend('wasm');
const dir = mkdtempSync(join(tmpdir(), 'pg-gates-e2e-'));
try {
  for (const [name, include, actScale] of [
    ['tiny-cnn', ['/fc/Gemm'], 'static'],
    ['resnet-fmnist', [], 'static'],
    ['resnet-fmnist', [], 'dynamic'],
  ]) {
    const float = await c.readModel(join(root, `fixtures/models/${name}.onnx`));
    const { model: converted } = c.convertModel(float, { bits: 4, hbits: 2, wbits: 8, actScale, include, firstLayerBits });
    const train = await c.openDataset('fashion-mnist:train?source=bundled', NORM);
    const gated = await c.calibrate(converted, train, { batches: 1, batchSize: 32, seed: 0, scales: actScale === 'static', targetSparsity: 0.85 });
    const graph = c.inlineFunctions(gated, c.isPgNode);
    const layers = gated.graph.nodes
      .filter(c.isGatedNode)
      .map((n) => ({ node: n, gate: graph.nodes.find((g) => g.name.startsWith(`${n.name}/`) && g.opType === 'Greater').outputs[0] }));
    const probe = {
      ...gated,
      graph: {
        ...graph,
        outputs: [
          ...graph.outputs,
          ...layers.flatMap((l) => [
            { name: l.gate, dtype: 'bool' },
            { name: l.node.inputs[0], dtype: 'float32' },
          ]),
        ],
      },
    };
    const path = join(dir, `${name}-${actScale}.onnx`);
    await c.writeModel(probe, path);
    const session = await ort.InferenceSession.create(path);
    const alone = new Map();
    for (const l of layers) alone.set(l.node.name, await layerSession(gated, l.node, dir));
    // Inputs are compared in both modes, codes for static scales (a dynamic scale's codes depend on the whole sample).
    const counts = { inputsDiffer: 0, codesDiffer: actScale === 'static' ? 0 : null };
    const stats = new Map(layers.map((l) => [l.node.name, { decisions: 0, endToEnd: 0, sameInput: 0, ...counts }]));
    let images = 0;
    let logits = 0;
    const test = await c.openDataset('fashion-mnist:test?source=bundled', NORM);
    for (const b of test.batches(Number(values.batch), { limit: Number(values.limit) })) {
      images += b.shape[0];
      const seen = new Map();
      const exec = new c.Executor(gated);
      const ours = tf.tidy(() => {
        const out = exec.run(
          { [gated.graph.inputs[0].name]: tf.tensor(b.x, b.shape) },
          {
            observer: {
              wants: (n, k) => c.isGatedNode(n) && (k === c.OBSERVE.gate || k === c.OBSERVE.input),
              observe: (n, k, t) => seen.set(`${n.name}#${k}`, (t.rank === 4 ? tf.transpose(t, [0, 3, 1, 2]) : t).dataSync()),
            },
          },
        );
        return Object.values(out)[0].dataSync();
      });
      exec.dispose();
      const theirs = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', b.x, b.shape) });
      logits = Math.max(logits, c.maxRelativeDifference(ours, theirs[gated.graph.outputs[0].name].data));
      for (const l of layers) {
        const s = stats.get(l.node.name);
        const mask = seen.get(`${l.node.name}#${c.OBSERVE.gate}`);
        const input = seen.get(`${l.node.name}#${c.OBSERVE.input}`);
        const theirGate = theirs[l.gate].data;
        const theirInput = theirs[l.node.inputs[0]];
        const a = alone.get(l.node.name);
        const sameInputGate = (await a.session.run({ [l.node.inputs[0]]: new ort.Tensor('float32', input, theirInput.dims) }))[a.gate].data;
        s.decisions += mask.length;
        for (let i = 0; i < mask.length; i++) {
          if (mask[i] !== theirGate[i]) s.endToEnd++;
          if (mask[i] !== sameInputGate[i]) s.sameInput++;
        }
        const scale = gated.graph.initializers.get(l.node.inputs[4]).data()[0];
        const code = (v) => roundHalfEven(Math.fround(Math.min(1, Math.max(-1, Math.fround(v / scale))) * 15));
        for (let i = 0; i < input.length; i++) {
          if (input[i] === theirInput.data[i]) continue;
          s.inputsDiffer++;
          if (actScale === 'static' && code(input[i]) !== code(theirInput.data[i])) s.codesDiffer++;
        }
      }
    }
    console.log(
      JSON.stringify({ model: name, act_scale: actScale, first_layer_bits: firstLayerBits ?? null, images, logits_max_rel_diff: logits, layers: Object.fromEntries(stats) }),
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
