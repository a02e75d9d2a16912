import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { UnsupportedModelError, UsageError } from '../errors/index.js';
import { readModel } from '../onnx/index.js';
import { Executor } from '../interpreter/executor.js';
import { initBackend } from '../interpreter/index.js';
import { convertModel, type ConvertOptions } from './convert.js';
import { floatTwin } from './float-twin.js';
import { META, RECOMPUTE_ATTR, isGatedNode } from './format.js';
import { OBSERVE } from './kernels.js';
import { conversionMode, pgLayers } from './layers.js';
import { functionsFor } from './model-functions.js';
import { opRegistry } from './op-registry.js';

const RESNET = new URL('../../../../fixtures/models/resnet-fmnist.onnx', import.meta.url).pathname;
const VIT = new URL('../../../../fixtures/models/vit-fmnist.onnx', import.meta.url).pathname;
const OPTS: ConvertOptions = { bits: 4, hbits: 2, wbits: 8, actScale: 'dynamic', firstLayerBits: 8 };

beforeAll(async () => {
  await initBackend('wasm');
});

describe('convertModel --mode', () => {
  it('static: every layer pg would gate is quantized at B bits, saying why; nothing else changes', async () => {
    const m = await readModel(RESNET);
    const pg = convertModel(m, OPTS);
    const st = convertModel(m, { ...OPTS, mode: 'static' });
    expect(st.model.graph.nodes.some(isGatedNode)).toBe(false);
    expect(st.layers.map((l) => l.name)).toEqual(pg.layers.map((l) => l.name));
    for (const [i, l] of st.layers.entries()) {
      const before = pg.layers[i];
      if (before.gated) {
        expect(l).toMatchObject({ gated: false, bits: 4, hbits: null, wbits: 8 });
        expect(l.reason).toMatch(/^--mode static: quantized statically where pg would gate \(output (feeds Relu: gated|\+ Add\('[^']+'\) feeds Relu: gated on the sum)/);
      } else {
        expect(l).toEqual(before);
      }
    }
    // pg's default gates the residual sums too: static quantizes both kinds.
    expect(pg.layers.filter((l) => l.gate === 'residual').length).toBeGreaterThan(0);
    expect(st.model.graph.nodes.filter((n) => n.opType === 'QConv')).toHaveLength(
      pg.model.graph.nodes.filter((n) => ['QConv', 'PGConv', 'PGResidualConv'].includes(n.opType)).length,
    );
    expect(st.model.metadata[META.mode]).toBe('static');
    expect(st.model.metadata[META.hbits]).toBeUndefined();
    expect(conversionMode(st.model)).toBe('static');
    expect(conversionMode(pg.model)).toBe('pg');
  });

  it("seernet: the gated layers carry the recompute attribute, their function reads it, and PG's do not change", async () => {
    const m = await readModel(RESNET);
    // SeerNet gates the plain placement (residual gating is off in its mode): compared with pg's plain placement.
    const pg = convertModel(m, { ...OPTS, gateResidual: false });
    const seer = convertModel(m, { ...OPTS, mode: 'seernet' });
    const gated = seer.model.graph.nodes.filter(isGatedNode);
    expect(gated.length).toBe(pg.model.graph.nodes.filter(isGatedNode).length);
    expect(gated.every((n) => n.attributes[RECOMPUTE_ATTR]?.type === 'int' && n.attributes[RECOMPUTE_ATTR].value === 1)).toBe(true);
    expect(seer.layers.filter((l) => l.gated).every((l) => l.gate_mode === 'seernet')).toBe(true);
    expect(pg.layers.filter((l) => l.gated).every((l) => l.gate_mode === 'pg')).toBe(true);
    expect(
      pgLayers(seer.model)
        .filter((l) => l.gated)
        .every((l) => l.recompute),
    ).toBe(true);
    const body = seer.model.functions.find((f) => f.name === 'PGConv')!;
    expect(body.attributes).toContain(RECOMPUTE_ATTR);
    expect(body.docString).toMatch(/max\(M, 1 - recompute\)/);
    const pgBody = pg.model.functions.find((f) => f.name === 'PGConv')!;
    expect(pgBody.attributes).not.toContain(RECOMPUTE_ATTR);
    expect(pg.model.graph.nodes.some((n) => RECOMPUTE_ATTR in n.attributes)).toBe(false);
    expect(conversionMode(seer.model)).toBe('seernet');
    // Without the metadata (another tool rewrote it), the layers say it.
    expect(conversionMode({ ...seer.model, metadata: {} })).toBe('seernet');
    // The float twin (distillation's teacher) is the plain model again.
    expect(floatTwin(seer.model).graph.nodes.some((n) => RECOMPUTE_ATTR in n.attributes)).toBe(false);
  });

  it('a function body is one for all its callers: a model mixing the attribute is refused, naming a node', async () => {
    const seer = convertModel(await readModel(RESNET), { ...OPTS, mode: 'seernet' }).model;
    const first = seer.graph.nodes.find(isGatedNode)!;
    const { [RECOMPUTE_ATTR]: _dropped, ...rest } = first.attributes;
    const mixed = { ...seer, graph: { ...seer.graph, nodes: seer.graph.nodes.map((n) => (n === first ? { ...n, attributes: rest } : n)) } };
    expect(() => functionsFor(mixed)).toThrow(UnsupportedModelError);
    expect(() => functionsFor(mixed)).toThrow(new RegExp(`'${first.name}' lacks it`));
  });

  it('refuses an unknown mode and bit widths a mode cannot use, naming the flag', async () => {
    const m = await readModel(RESNET);
    expect(() => convertModel(m, { ...OPTS, mode: 'uniform' as never })).toThrow(UsageError);
    expect(() => convertModel(m, { ...OPTS, mode: 'uniform' as never })).toThrow(/--mode uniform is not a conversion mode/);
    expect(() => convertModel(m, { ...OPTS, mode: 'seernet', hbits: 4 })).toThrow(/--hbits 4 must be at least 1 and less than --bits 4 \(--mode seernet/);
    // static has no prediction: its hbits is not checked.
    expect(convertModel(m, { ...OPTS, mode: 'static', hbits: 9 }).layers.some((l) => l.gated)).toBe(false);
  });

  it('seernet is for plain gates: refused with --gate-residual (naming both flags) and on a token layer (naming it)', async () => {
    const m = await readModel(RESNET);
    expect(() => convertModel(m, { ...OPTS, mode: 'seernet', gateResidual: true })).toThrow(UsageError);
    expect(() => convertModel(m, { ...OPTS, mode: 'seernet', gateResidual: true })).toThrow(/--mode seernet cannot be combined with --gate-residual/);
    // Each alone converts: pg mode gates the residual sums (by default), seernet the plain layers.
    expect(convertModel(m, OPTS).layers.some((l) => l.gate === 'residual')).toBe(true);
    expect(convertModel(m, { ...OPTS, gateResidual: false }).layers.some((l) => l.gate === 'residual')).toBe(false);
    expect(
      convertModel(m, { ...OPTS, mode: 'seernet' })
        .layers.filter((l) => l.gated)
        .every((l) => l.gate === 'plain' && l.gate_mode === 'seernet'),
    ).toBe(true);
    const vit = await readModel(VIT);
    const tokenLayer = convertModel(vit, OPTS).model.graph.nodes.find((n) => n.opType === 'PGMatMul')!;
    expect(() => convertModel(vit, { ...OPTS, mode: 'seernet' })).toThrow(UsageError);
    expect(() => convertModel(vit, { ...OPTS, mode: 'seernet' })).toThrow(new RegExp(`--mode seernet does not apply to the token layer '${tokenLayer.name}'`));
  });

  it('a residual gate carrying the recompute attribute is refused when its functions are written, naming the node', async () => {
    const residual = convertModel(await readModel(RESNET), { ...OPTS, gateResidual: true }).model;
    const node = residual.graph.nodes.find((n) => n.opType === 'PGResidualConv')!;
    const nodes = residual.graph.nodes.map((n) => (n === node ? { ...n, attributes: { ...n.attributes, [RECOMPUTE_ATTR]: { type: 'int' as const, value: 1 } } } : n));
    const marked = { ...residual, graph: { ...residual.graph, nodes } };
    expect(() => functionsFor(marked)).toThrow(UnsupportedModelError);
    expect(() => functionsFor(marked)).toThrow(new RegExp(`PGResidualConv node '${node.name}' has the recompute attribute`));
  });

  it("seernet's training form writes zero where the gate is off and the B-bit result where it passes, and Δ gets a gradient through both", async () => {
    const m = await readModel(RESNET);
    const seer = convertModel(m, { ...OPTS, mode: 'seernet' }).model;
    const pg = convertModel(m, OPTS).model;
    const layer = seer.graph.nodes.find(isGatedNode)!;
    const x = tf.randomUniform([2, 1, 28, 28], -1, 1, 'float32', 3);
    const run = (model: typeof seer) => {
      const exec = new Executor(model, { registry: opRegistry });
      const threshold = layer.inputs[3];
      const delta = tf.variable(exec.param(threshold)!);
      exec.setParam(threshold, delta);
      let gate: Float32Array = new Float32Array();
      const { value, grads } = tf.variableGrads(() => {
        const out = exec.run(
          { [model.graph.inputs[0].name]: x },
          {
            training: true,
            outputs: [layer.outputs[0]],
            observer: { wants: (n, k) => n.name === layer.name && k === OBSERVE.gate, observe: (_n, _k, t) => (gate = t.dataSync() as Float32Array) },
          },
        );
        return tf.sum(out[layer.outputs[0]]) as tf.Scalar;
      }, [delta]);
      const y = tf.transpose(exec.run({ [model.graph.inputs[0].name]: x }, { training: true, outputs: [layer.outputs[0]] })[layer.outputs[0]], [0, 2, 3, 1]).dataSync();
      const g = grads[delta.name].dataSync();
      value.dispose();
      exec.dispose();
      return { y, gate, g };
    };
    const s = run(seer);
    const p = run(pg);
    let open = 0;
    for (let i = 0; i < s.y.length; i++) {
      if (s.gate[i] === 1) {
        open++;
        expect(s.y[i]).toBeCloseTo(p.y[i], 5);
      } else {
        expect(s.y[i] === 0).toBe(true);
      }
    }
    expect(open).toBeGreaterThan(0);
    expect(open).toBeLessThan(s.y.length);
    expect(p.gate).toEqual(s.gate);
    // The surrogate reaches Δ in both; SeerNet's through O_hb + O_lb, PG's through O_lb alone: they differ.
    expect(Array.from(s.g).some((v) => v !== 0)).toBe(true);
    expect(Array.from(s.g)).not.toEqual(Array.from(p.g));
  });
});
