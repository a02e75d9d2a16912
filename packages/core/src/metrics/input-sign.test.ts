import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { openDataset, readNpzFile } from '../data/index.js';
import { constTensor, type Graph, type Model, type Node } from '../graph/index.js';
import { readModel } from '../onnx/index.js';
import { convertModel } from '../gating/convert.js';
import { opRegistry } from '../gating/op-registry.js';
import { Executor } from '../interpreter/executor.js';
import { initBackend } from '../interpreter/index.js';
import { tensorFromBatch } from '../interpreter/feeds.js';
import { FIXTURES, FMNIST_NORM, fixtureModel } from '../../test/fixtures.js';
import { firstBatch } from '../data/index.js';
import { nonNegativeValues } from './input-sign.js';
import { COST_OPS } from './layer-cost.js';

beforeAll(async () => {
  await initBackend('wasm');
});

const node = (opType: string, inputs: string[], output: string, attributes: Node['attributes'] = {}): Node => ({
  name: output,
  opType,
  domain: '',
  inputs,
  outputs: [output],
  attributes,
});

describe('which values the graph proves non-negative', () => {
  it('ReLU, ReLU6 and what keeps their sign are non-negative; the input, convs, HardSwish, SiLU and negative constants are not', () => {
    const nodes = [
      node('Conv', ['x', 'w'], 'c'),
      node('Relu', ['c'], 'r'),
      node('MaxPool', ['r'], 'p'),
      node('Clip', ['c', 'zero', 'six'], 'r6'),
      node('Clip', ['c'], 'r6old', { min: { type: 'float', value: 0 }, max: { type: 'float', value: 6 } }),
      node('Clip', ['c', 'minus'], 'clipneg'),
      node('Add', ['r', 'p'], 'sum'),
      node('Add', ['r', 'c'], 'mixed'),
      node('Mul', ['r', 'half'], 'scaled'),
      node('Mul', ['r', 'minus'], 'flipped'),
      node('HardSwish', ['c'], 'hs'),
      node('Sigmoid', ['c'], 'sg'),
      node('Mul', ['c', 'sg'], 'silu'),
      node('Concat', ['r', 'p'], 'cat', { axis: { type: 'int', value: 1 } }),
      node('Concat', ['r', 'c'], 'catmixed', { axis: { type: 'int', value: 1 } }),
      node('Pad', ['r', 'pads', 'minus'], 'padneg'),
      node('Pad', ['r', 'pads'], 'pad0'),
      node('Resize', ['r', '', 'scales'], 'up', { mode: { type: 'string', value: 'cubic' } }),
      node('Resize', ['r', '', 'scales'], 'near'),
      node('BatchNormalization', ['r', 's', 'b', 'm', 'v'], 'bn'),
      node('Flatten', ['p'], 'f'),
    ];
    const f32 = (name: string, v: number[]) => constTensor(name, 'float32', [v.length], new Float32Array(v));
    const graph: Graph = {
      name: 'g',
      nodes,
      initializers: new Map([f32('w', [1]), f32('zero', [0]), f32('six', [6]), f32('minus', [-1]), f32('half', [0.5])].map((t) => [t.name, t])),
      inputs: [{ name: 'x', dtype: 'float32' }],
      outputs: [{ name: 'f', dtype: 'float32' }],
      valueInfo: new Map(),
    };
    const unsigned = nonNegativeValues(graph, nodes);
    const yes = ['r', 'p', 'r6', 'r6old', 'sum', 'scaled', 'sg', 'cat', 'pad0', 'near', 'f'];
    const no = ['x', 'c', 'clipneg', 'mixed', 'flipped', 'hs', 'silu', 'catmixed', 'padneg', 'up', 'bn'];
    expect(yes.filter((v) => !unsigned.has(v))).toEqual([]);
    expect(no.filter((v) => unsigned.has(v))).toEqual([]);
  });
});

/** Every Conv/Gemm layer's input of a model, with the smallest value it took on `x` and whether the rule calls it signed. */
function layerInputs(model: Model, x: tf.Tensor): { layer: string; min: number; signed: boolean }[] {
  const exec = new Executor(model, { registry: opRegistry });
  try {
    const unsigned = nonNegativeValues(model.graph, exec.order);
    const layers = exec.order.filter((n) => COST_OPS.has(n.opType));
    const inputName = exec.graph.inputs.find((i) => !exec.graph.initializers.has(i.name))!.name;
    return tf.tidy(() => {
      const names = [...new Set(layers.map((n) => n.inputs[0]).filter((n) => n !== inputName))];
      const out = exec.run({ [inputName]: x }, { outputs: names });
      return layers.map((n) => ({ layer: n.name, min: (n.inputs[0] === inputName ? x : out[n.inputs[0]]).min().dataSync()[0], signed: !unsigned.has(n.inputs[0]) }));
    });
  } finally {
    exec.dispose();
  }
}

describe('the rule holds on real models: every input it calls unsigned never goes below zero', () => {
  it('the bundled ResNet, float and gated: only the stem reads a signed input (the normalised image)', async () => {
    const data = await openDataset('fashion-mnist:test?source=bundled', { ...FMNIST_NORM });
    const batch = await firstBatch(data.batches(64, { limit: 64 }));
    const x = tensorFromBatch(batch.x, batch.shape);
    const float = await readModel(fixtureModel('resnet-fmnist'));
    const gated = convertModel(float, { bits: 4, hbits: 2, wbits: 8, actScale: 'dynamic' }).model;
    for (const model of [float, gated]) {
      const inputs = layerInputs(model, x);
      expect(inputs.filter((l) => !l.signed && l.min < 0)).toEqual([]);
      expect(inputs.filter((l) => l.signed).map((l) => l.layer)).toEqual([inputs[0].layer]);
      expect(inputs[0].min).toBeLessThan(0);
    }
    x.dispose();
  });

  const zoo = process.env.PG_ZOO_DIR ? resolve(process.env.PG_ZOO_DIR) : fileURLToZoo();
  const manifest = join(zoo, 'manifest.json');
  const entries = existsSync(manifest)
    ? (JSON.parse(readFileSync(manifest, 'utf8')) as { models: { name: string; file: string; data: string; bench: boolean }[] }).models.filter(
        (e) => !e.bench && existsSync(join(zoo, e.file)),
      )
    : [];
  if (!entries.length) console.warn(`Skipping the torchvision zoo sign check: no models in ${zoo} (/usr/bin/python3 fixtures/zoo/make_zoo.py, or set PG_ZOO_DIR).`);
  for (const e of entries) {
    it(`${e.name}: sound on its data, and signed where the architecture is (MobileNetV2's bottlenecks, HardSwish, SiLU)`, async () => {
      const model = await readModel(join(zoo, e.file));
      const arrays = await readNpzFile(join(zoo, e.data));
      const a = arrays.get('x')!;
      const x = tf.tensor(a.data as Float32Array, a.shape, 'float32');
      const inputs = layerInputs(model, x);
      x.dispose();
      expect(inputs.filter((l) => !l.signed && l.min < 0)).toEqual([]);
      const signedLater = inputs.slice(1).filter((l) => l.signed).length;
      if (/mobilenet|efficientnet|mnasnet/.test(e.name)) expect(signedLater).toBeGreaterThan(0);
      // EfficientNet has SiLU after every layer (and x·sigmoid in its squeeze-excitation): all signed. The others have ReLUs.
      expect(inputs.some((l) => !l.signed)).toBe(!/efficientnet/.test(e.name));
    });
  }
});

/** The zoo pg's tests use when PG_ZOO_DIR is not set: .cache/zoo at the repository root. */
function fileURLToZoo(): string {
  return resolve(FIXTURES, '..', '.cache', 'zoo');
}
