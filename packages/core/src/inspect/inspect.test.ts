import { beforeAll, describe, expect, it } from 'vitest';
import { fixtureModel, fixtureSkipNote, hasFixture } from '../../test/fixtures.js';
import type { Model } from '../graph/index.js';
import { readModel } from '../onnx/index.js';
import { convertModel, FIRST_LAYER_BITS_DEFAULT, type LayerDecision } from '../gating/index.js';
import { initBackend } from '../interpreter/backend.js';
import { inspectModel, opCounts } from './index.js';
import type { InspectResult } from './types.js';

beforeAll(async () => {
  await initBackend('wasm');
});

/** What convert's decision says, in placement's words. */
const roleOf = (d: LayerDecision): string => (d.gated ? 'gate' : d.bits === null ? 'float' : 'quantize');

function expectPlacementLikeConvert(model: Model, r: InspectResult): void {
  // pg convert's defaults: the first layer quantized.
  const decisions = convertModel(model, { bits: 4, hbits: 2, wbits: 8, actScale: 'static', firstLayerBits: FIRST_LAYER_BITS_DEFAULT }).layers;
  expect(r.layers.map((l) => ({ name: l.name, role: l.placement?.role, reason: l.placement?.reason }))).toEqual(
    decisions.map((d) => ({ name: d.name, role: roleOf(d), reason: d.reason })),
  );
}

describe.skipIf(!hasFixture('tiny-cnn'))(`inspectModel on tiny-cnn${fixtureSkipNote('tiny-cnn')}`, () => {
  let model: Model;
  let r: InspectResult;
  beforeAll(async () => {
    model = await readModel(fixtureModel('tiny-cnn'));
    r = inspectModel(model);
  });

  it('gives the header, inputs and outputs with symbolic dims by name', () => {
    expect(r).toMatchObject({
      ir_version: 7,
      opset_imports: [{ domain: '', version: 13 }],
      producer: { name: 'pg-fixtures (torch 1.13.0a0)', version: '1.13.0' },
      inputs: [{ name: 'input', dtype: 'float32', shape: ['N', 1, 28, 28] }],
      outputs: [{ name: 'logits', dtype: 'float32', shape: ['N', 10] }],
      nodes: 10,
      unsupported_ops: [],
      gated: false,
      pg: null,
      convert_blocker: null,
      shapes: { method: 'executed', batch: 1, note: null },
    });
    expect(r.metadata['pg.preprocess.mean']).toBe('0.2860');
  });

  it('counts ops, most frequent first', () => {
    expect(r.op_counts.slice(0, 2)).toEqual([
      { op: 'Conv', domain: '', count: 3 },
      { op: 'Relu', domain: '', count: 3 },
    ]);
    expect(r.op_counts.reduce((a, c) => a + c.count, 0)).toBe(10);
  });

  it('sizes each layer: MACs of conv2 match the hand computation', () => {
    const conv2 = r.layers.find((l) => l.name === '/conv2/Conv')!;
    // 3x3 conv, 8 -> 8 channels, padding 1 on 28x28: 8*28*28 outputs, each 8*3*3 MACs.
    expect(conv2).toMatchObject({ op: 'Conv', weight_shape: [8, 8, 3, 3], params: 8 * 8 * 9 + 8, output_shape: [1, 8, 28, 28], outputs: 8 * 28 * 28 });
    expect(conv2.macs).toBe(8 * 28 * 28 * (8 * 3 * 3));
    const fc = r.layers.find((l) => l.op === 'Gemm')!;
    expect(fc).toMatchObject({ weight_shape: [10, 16], params: 170, outputs: 10, macs: 160 });
    expect(r.macs).toBe(r.layers.reduce((a, l) => a + l.macs!, 0));
    expect(r.parameters).toBe(r.layers.reduce((a, l) => a + l.params, 0));
  });

  it('gives the placement pg convert makes', () => {
    expectPlacementLikeConvert(model, r);
    expect(r.layers.every((l) => !l.gated && l.bits === null)).toBe(true);
  });

  it('describes a gated model: pg layers with bits, the same MACs, no placement', () => {
    const gated = convertModel(model, { bits: 4, hbits: 2, wbits: 8, actScale: 'dynamic' }).model;
    const g = inspectModel(gated);
    expect(g.gated).toBe(true);
    expect(g.pg).toEqual({ format_version: '2', act_scale: 'dynamic', bits: 4, hbits: 2, wbits: 8, gated_layers: 2, quantized_layers: 0 });
    expect(g.convert_blocker).toMatch(/already gated/);
    expect(g.layers.map((l) => l.op)).toEqual(['Conv', 'PGConv', 'PGConv', 'Gemm']);
    expect(g.layers[1]).toMatchObject({ gated: true, bits: 4, hbits: 2, wbits: 8, placement: null });
    expect(g.layers[0]).toMatchObject({ gated: false, bits: null });
    expect(g.layers.map((l) => l.macs)).toEqual(r.layers.map((l) => l.macs));
    expect(g.op_counts.find((o) => o.op === 'PGConv')).toEqual({ op: 'PGConv', domain: 'org.precisiongating', count: 2 });
    expect(g.unsupported_ops).toEqual([]);
  });

  it('lists ops pg cannot run instead of failing, and sizes the layers before them', () => {
    const nodes = model.graph.nodes.flatMap((n) => {
      if (n.opType !== 'MaxPool') return [n];
      const odd = { name: 'odd', opType: 'NoSuchOp', domain: 'com.example', inputs: n.inputs, outputs: ['odd_out'], attributes: {} };
      return [odd, { ...n, inputs: ['odd_out'] }];
    });
    const broken: Model = { ...model, graph: { ...model.graph, nodes } };
    const b = inspectModel(broken);
    expect(b.unsupported_ops).toEqual([{ op: 'NoSuchOp', domain: 'com.example', count: 1, nodes: ['odd'], reason: 'pg has no kernel for it' }]);
    // pg convert refuses such a model, so inspect says so.
    expect(b.convert_blocker).toBe("node 'odd' uses op 'NoSuchOp', which pg cannot run");
    expect(b.layers.map((l) => l.macs === null)).toEqual([false, false, true, true]);
    expect(b.macs).toBeNull();
    expect(b.shapes).toMatchObject({ method: 'executed', batch: 1 });
    expect(b.shapes.note).toMatch(/2 layer\(s\) come after ops pg cannot run.*\/conv3\/Conv, \/fc\/Gemm/);
  });

  it('does not fail when the input has symbolic dims beyond the batch: MACs are null', () => {
    const input = { ...model.graph.inputs[0], shape: ['N', 1, 'H', 'W'] };
    const open: Model = { ...model, graph: { ...model.graph, inputs: [input] } };
    const o = inspectModel(open);
    expect(o.shapes).toEqual({ method: 'unavailable', batch: null, note: expect.stringMatching(/dimension 'H' beyond the batch/) });
    expect(o.layers.every((l) => l.macs === null && l.params > 0)).toBe(true);
    expect(o.macs).toBeNull();
  });
});

describe.skipIf(!hasFixture('resnet-fmnist'))(`inspectModel on resnet-fmnist${fixtureSkipNote('resnet-fmnist')}`, () => {
  it('sizes every layer and places them as pg convert does', async () => {
    const model = await readModel(fixtureModel('resnet-fmnist'));
    const r = inspectModel(model);
    expect(r.layers).toHaveLength(10);
    expectPlacementLikeConvert(model, r);
    // The 1x1 shortcut conv of layer2: 16 -> 32 channels at stride 2, 28x28 -> 14x14.
    const shortcut = r.layers.find((l) => l.name === '/layer2/shortcut/shortcut.0/Conv')!;
    expect(shortcut).toMatchObject({ output_shape: [1, 32, 14, 14], macs: 32 * 14 * 14 * 16, params: 32 * 16 + 32 });
    // pg convert's default gates the residual sums too: three plain gates and three on the sum.
    expect(r.layers.filter((l) => l.placement?.role === 'gate').length).toBe(6);
    expect(r.layers.filter((l) => l.placement?.role === 'gate' && /: gated on the sum/.test(l.placement.reason)).length).toBe(3);
    expect(r.macs).toBe(r.layers.reduce((a, l) => a + l.macs!, 0));
  });

  it('gives the share of MACs pg convert would gate, plain (--no-gate-residual) and by default, and of a gated model', async () => {
    const model = await readModel(fixtureModel('resnet-fmnist'));
    const share = (r: InspectResult, gated: (l: InspectResult['layers'][number]) => boolean) => r.layers.filter(gated).reduce((a, l) => a + l.macs!, 0) / r.macs!;
    const plain = inspectModel(model, { gateResidual: false });
    // layer1-3's first convs: 3,612,672 of 9,345,920 MACs
    expect(plain.gated_mac_fraction).toBeCloseTo(
      share(plain, (l) => l.placement?.role === 'gate'),
      12,
    );
    expect(plain.gated_mac_fraction).toBeCloseTo(0.387, 3);
    const residual = inspectModel(model);
    expect(inspectModel(model, { gateResidual: true })).toEqual(residual);
    // and every block's second conv, on the sum: all but the stem, the shortcuts and the classifier
    expect(residual.layers.filter((l) => l.placement?.role === 'gate').map((l) => l.name)).toEqual([
      '/layer1/conv1/Conv',
      '/layer1/conv2/Conv',
      '/layer2/conv1/Conv',
      '/layer2/conv2/Conv',
      '/layer3/conv1/Conv',
      '/layer3/conv2/Conv',
    ]);
    expect(residual.gated_mac_fraction).toBeCloseTo(0.966, 3);
    // a gated model: the share of its gated layers, residual ones included
    const { model: gated } = convertModel(model, { bits: 4, hbits: 2, wbits: 8, actScale: 'static', firstLayerBits: 8 });
    expect(inspectModel(gated).gated_mac_fraction).toBeCloseTo(residual.gated_mac_fraction!, 12);
  });
});

describe.skipIf(!hasFixture('vit-tiny-opset13'))(`inspectModel on a ViT${fixtureSkipNote('vit-tiny-opset13')}`, () => {
  it('lists the linear layers on tokens (MatMul and its bias), sized, and places them as pg convert does', async () => {
    const model = await readModel(fixtureModel('vit-tiny-opset13'));
    const r = inspectModel(model);
    expect(r.layers.map((l) => l.op)).toEqual(['Conv', ...Array<string>(8).fill('MatMul'), 'Gemm']);
    expectPlacementLikeConvert(model, r);
    // fc1 of the first block: 17 tokens, 24 -> 48 features, its weight and bias.
    const fc1 = r.layers.find((l) => l.name === '/blocks/blocks.0/mlp/fc1/MatMul')!;
    expect(fc1).toMatchObject({ output_shape: [1, 17, 48], macs: 17 * 48 * 24, params: 24 * 48 + 48, placement: { role: 'gate' } });
  });
});

describe('opCounts', () => {
  it('sorts by count, then by name', () => {
    const n = (opType: string) => ({ name: '', opType, domain: '', inputs: [], outputs: [], attributes: {} });
    expect(opCounts([n('b'), n('a'), n('c'), n('c')]).map((c) => `${c.op}${c.count}`)).toEqual(['c2', 'a1', 'b1']);
  });
});
