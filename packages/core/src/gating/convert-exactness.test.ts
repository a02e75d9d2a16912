import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { constTensor } from '../graph/index.js';
import { readModel } from '../onnx/index.js';
import { Executor, initBackend } from '../interpreter/index.js';
import { opRegistry } from './op-registry.js';
import { accumulationExactness, convertModel, FLOAT32_EXACT_INTEGERS } from './convert.js';
import { actScaleName, biasName, isGatedNode, isPgNode, PG_DOMAIN, PG_DOMAIN_VERSION, Q_CONV } from './format.js';
import { UsageError } from '../errors/index.js';

const TINY = new URL('../../../../fixtures/models/tiny-cnn.onnx', import.meta.url).pathname;

beforeAll(async () => {
  await initBackend('wasm');
});

describe('the integer-accumulation form (gated format 2)', () => {
  it('declares its domain version and is exact at 4/2/8 bits on tiny-cnn', async () => {
    const float = await readModel(TINY);
    const { model, layers } = convertModel(float, { bits: 4, hbits: 2, wbits: 8, actScale: 'static' });
    expect(model.opsetImports.find((o) => o.domain === PG_DOMAIN)!.version).toBe(PG_DOMAIN_VERSION);
    for (const node of model.graph.nodes.filter(isPgNode)) {
      const e = accumulationExactness(node, model, { bits: 4, hbits: 2, wbits: 8 }, isGatedNode(node));
      // conv2: 8 input channels x 3x3 = 72 products of codes up to 3 (high or low 2 bits) and 255.
      if (node.name === '/conv2/Conv') expect([e.fanIn, e.bound]).toEqual([72, 72 * 3 * 255]);
      expect(e.exact).toBe(true);
    }
    expect(layers.filter((l) => /not exact/.test(l.reason))).toEqual([]);
  });

  it("says in a layer's reason where the accumulator can pass 2^24", async () => {
    const float = await readModel(TINY);
    const { model, layers } = convertModel(float, { bits: 16, hbits: 8, wbits: 16, actScale: 'static' });
    const conv2 = model.graph.nodes.find((n) => n.name === '/conv2/Conv')!;
    const e = accumulationExactness(conv2, model, { bits: 16, hbits: 8, wbits: 16 }, true);
    expect(e.bound).toBe(72 * 255 * 65535);
    expect(e.bound).toBeGreaterThan(FLOAT32_EXACT_INTEGERS);
    expect(layers.find((l) => l.name === '/conv2/Conv')!.reason).toMatch(/not exact in float32: \|acc\| can reach 1203222600 > 2\^24 \(fan-in 72\)/);
  });

  it('gives a layer without a bias a zero one (the bias is added after scaling), with the same results', async () => {
    const float = await readModel(TINY);
    const conv2 = float.graph.nodes.find((n) => n.name === '/conv2/Conv')!;
    const zeros = constTensor(
      'zeros',
      'float32',
      [float.graph.initializers.get(conv2.inputs[1])!.dims[0]],
      new Float32Array(float.graph.initializers.get(conv2.inputs[1])!.dims[0]),
    );
    const withZero = {
      ...float,
      graph: {
        ...float.graph,
        initializers: new Map([...float.graph.initializers, ['zeros', zeros]]),
        nodes: float.graph.nodes.map((n) => (n === conv2 ? { ...n, inputs: [n.inputs[0], n.inputs[1], 'zeros'] } : n)),
      },
    };
    const without = { ...float, graph: { ...float.graph, nodes: float.graph.nodes.map((n) => (n === conv2 ? { ...n, inputs: n.inputs.slice(0, 2) } : n)) } };
    const opts = { bits: 4, hbits: 2, wbits: 8, actScale: 'dynamic' as const };
    const a = convertModel(withZero, opts).model;
    const b = convertModel(without, opts).model;
    const gated = b.graph.nodes.find((n) => n.name === '/conv2/Conv')!;
    expect(gated.inputs[2]).toBe(biasName('/conv2/Conv'));
    expect([...(b.graph.initializers.get(biasName('/conv2/Conv'))!.data() as Float32Array)].every((v) => v === 0)).toBe(true);
    const run = (m: typeof a) => {
      const exec = new Executor(m, { registry: opRegistry });
      try {
        return tf.tidy(() => Object.values(exec.run({ [m.graph.inputs[0].name]: tf.randomUniform([2, 1, 28, 28], 0, 1, 'float32', 3) }))[0].dataSync());
      } finally {
        exec.dispose();
      }
    };
    expect([...run(b)]).toEqual([...run(a)]);
  });

  it('quantizes the first layer statically at --first-layer-bits for activations and weights, and keeps it float without', async () => {
    const float = await readModel(TINY);
    const without = convertModel(float, { bits: 4, hbits: 2, wbits: 8, actScale: 'static' });
    expect(without.layers[0]).toMatchObject({ name: '/conv1/Conv', gated: false, bits: null, wbits: null });
    expect(without.model.graph.nodes.find((n) => n.name === '/conv1/Conv')!.domain).toBe('');

    const { model, layers } = convertModel(float, { bits: 4, hbits: 2, wbits: 8, actScale: 'static', firstLayerBits: 8 });
    const stem = model.graph.nodes.find((n) => n.name === '/conv1/Conv')!;
    expect([stem.domain, stem.opType, stem.inputs[0], stem.inputs[3]]).toEqual([PG_DOMAIN, Q_CONV, float.graph.inputs[0].name, actScaleName('/conv1/Conv')]);
    expect([stem.attributes.bits, stem.attributes.wbits, stem.attributes.dynamic_scale]).toEqual([
      { type: 'int', value: 8 },
      { type: 'int', value: 8 },
      { type: 'int', value: 0 },
    ]);
    expect(layers[0]).toMatchObject({ gated: false, bits: 8, hbits: null, wbits: 8, reason: expect.stringMatching(/first layer.*--first-layer-bits/) });
    // 1 input channel x 3x3 = 9 products of codes up to 255 (signed: the normalised input is) and 255.
    const e = accumulationExactness(stem, model, { bits: 8, hbits: 2, wbits: 8 }, false);
    expect([e.fanIn, e.bound, e.exact]).toEqual([9, 9 * 255 * 255, true]);
    // The other layers keep --bits/--wbits.
    expect(
      layers
        .slice(1)
        .filter((l) => l.bits !== null)
        .every((l) => l.bits === 4 && l.wbits === 8),
    ).toBe(true);
    // An explicit --exclude still keeps it float.
    expect(convertModel(float, { bits: 4, hbits: 2, wbits: 8, actScale: 'static', firstLayerBits: 8, exclude: ['/conv1/Conv'] }).layers[0].bits).toBeNull();
  });

  it('refuses --first-layer-bits out of range, naming the flag', async () => {
    const float = await readModel(TINY);
    for (const firstLayerBits of [1, 17, 4.5]) {
      expect(() => convertModel(float, { bits: 4, hbits: 2, wbits: 8, actScale: 'static', firstLayerBits })).toThrow(UsageError);
      expect(() => convertModel(float, { bits: 4, hbits: 2, wbits: 8, actScale: 'static', firstLayerBits })).toThrow(/--first-layer-bits/);
    }
  });
});
