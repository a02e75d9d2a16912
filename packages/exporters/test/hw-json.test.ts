import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { constTensor, convertModel, initBackend, maxRelativeDifference, PG_DOMAIN, readModel, UsageError, type Batch, type ConversionMode, type Model } from '@pg/core/internal';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportFormat, tensorFilePath, type HwLinearLayer } from '../src/index.js';
import { HwDescription, evaluateLayer, unitFloat32 } from './support/integer-evaluator.js';
import { calibratedGatedModel, fixtureModel, fixtureSkipNote, hasFixture, runPg, testBatch } from './support/gated-fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'pg-export-hw-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeAll(async () => {
  await initBackend('wasm');
});

/** A Gemm layer's weights and alpha both negated: the same function, with alpha < 0. */
function negateAlpha(model: Model, layer: string): Model {
  const node = model.graph.nodes.find((n) => n.name === layer)!;
  const w = model.graph.initializers.get(node.inputs[1])!;
  const initializers = new Map(model.graph.initializers);
  initializers.set(
    w.name,
    constTensor(
      w.name,
      'float32',
      w.dims.slice(),
      Float32Array.from(w.data() as Float32Array, (v) => -v),
    ),
  );
  const alpha = node.attributes.alpha!;
  const nodes = model.graph.nodes.map((n) => (n === node && alpha.type === 'float' ? { ...n, attributes: { ...n.attributes, alpha: { ...alpha, value: -alpha.value } } } : n));
  return { ...model, graph: { ...model.graph, nodes, initializers } };
}

const cases: {
  name: string;
  include: string[];
  batch: number;
  firstLayerBits?: number;
  gateResidual?: boolean;
  finetuneSteps?: number;
  mode?: ConversionMode;
  label?: string;
  edit?: (m: Model) => Model;
}[] = [
  { name: 'tiny-cnn', include: ['/fc/Gemm'], batch: 32 }, // two gated convs and a gated Gemm
  // pg convert's defaults but a float stem: three gated convs, three gated on their residual sum, two QConv (1x1
  // stride-2 shortcuts)
  { name: 'resnet-fmnist', include: [], batch: 16 },
  // the plain placement (--no-gate-residual): three gated convs, five QConv; and the stem as an 8/8-bit QConv on the signed input
  { name: 'resnet-fmnist', include: [], batch: 16, firstLayerBits: 8, gateResidual: false, label: 'resnet-fmnist-plain-first8' },
  { name: 'resnet-fmnist', include: [], batch: 16, firstLayerBits: 8, mode: 'seernet', label: 'resnet-fmnist-seernet' }, // gated in SeerNet's form: zero where the gate is off
  // every block's second conv gated on the sum with its residual (--gate-residual), fine-tuned 3 steps
  { name: 'resnet-fmnist', include: [], batch: 16, firstLayerBits: 8, gateResidual: true, finetuneSteps: 3, label: 'resnet-fmnist-residual' },
  // gated Gemms with alpha, beta, transA (a Transpose), a scalar and a [1, N] C, fine-tuned 3 steps; and with a negative alpha
  { name: 'gemm-attrs', include: ['/fc3/Gemm'], batch: 32, finetuneSteps: 3 },
  { name: 'gemm-attrs', include: ['/fc3/Gemm'], batch: 32, finetuneSteps: 3, label: 'gemm-attrs-negative-alpha', edit: (m) => negateAlpha(m, '/fc2/Gemm') },
  // a ViT's token layers: PGMatMul before GELU, QMatMul for the attention's projections and fc2 (channels last, [T, F])
  { name: 'vit-tiny-opset13', include: [], batch: 8, firstLayerBits: 8, finetuneSteps: 3 },
];

/** The output channel of element `i` of a layer's output: axis 1 of a Conv's NCHW, the last axis otherwise. */
const channelOf = (layer: HwLinearLayer, n: number, length: number) => {
  const last = layer.output_shape.length - 1;
  if (layer.op !== 'Conv') return (i: number) => i % layer.output_shape[last];
  const spatial = length / n / layer.output_shape[0];
  return (i: number) => Math.floor(i / spatial) % layer.output_shape[0];
};

for (const c of cases) {
  const stem = c.label ?? `${c.name}${c.firstLayerBits ? `-first${c.firstLayerBits}` : ''}`;
  describe.skipIf(!hasFixture(c.name))(
    `hw-json of ${stem} (calibrated${c.finetuneSteps ? `, fine-tuned ${c.finetuneSteps} steps` : ''}, static scale)${fixtureSkipNote(c.name)}`,
    () => {
      let gated: Model;
      let hw: HwDescription;
      let batch: Batch;
      beforeAll(async () => {
        const calibrated = await calibratedGatedModel(c.name, {
          include: c.include,
          firstLayerBits: c.firstLayerBits,
          gateResidual: c.gateResidual,
          finetuneSteps: c.finetuneSteps,
          mode: c.mode,
        });
        gated = c.edit ? c.edit(calibrated) : calibrated;
        const out = join(dir, `${stem}.json`);
        const result = await exportFormat('hw-json').export(gated, { output: out });
        expect(result.files.map((f) => [f.path, f.role])).toEqual([
          [tensorFilePath(out), 'tensors'],
          [out, 'description'],
        ]);
        hw = new HwDescription(out);
        batch = await testBatch(c.batch);
      });

      it('describes every node: pg layers in integers, the rest as ONNX ops with their float parameters', () => {
        const pgNodes = gated.graph.nodes.filter((n) => n.domain === PG_DOMAIN);
        expect(hw.model.nodes.map((n) => n.name).sort()).toEqual(gated.graph.nodes.map((n) => n.name).sort());
        for (const node of pgNodes) {
          const layer = hw.layer(node.name);
          expect(layer.kind).toBe(node.opType.startsWith('PG') ? 'gated' : 'quantized');
          expect([layer.gate, layer.gate_offset]).toEqual(node.opType === 'PGResidualConv' ? ['residual', node.inputs[5]] : [node.opType.startsWith('PG') ? 'plain' : null, null]);
        }
        if (c.gateResidual) expect(pgNodes.filter((n) => n.opType === 'PGResidualConv').length).toBe(3);
        if (c.firstLayerBits) {
          const first = hw.layer(gated.graph.nodes.find((n) => n.domain === PG_DOMAIN)!.name);
          expect([first.kind, first.input, first.activation.bits, first.weights.bits]).toEqual(['quantized', hw.model.inputs[0].name, c.firstLayerBits, c.firstLayerBits]);
        }
        for (const n of hw.model.nodes) {
          if (n.kind !== 'float') continue;
          const initializers = n.inputs.filter((i) => gated.graph.initializers.has(i));
          expect(Object.keys(n.params).sort()).toEqual([...new Set(initializers)].sort());
          // The float parameters are the model's, value for value.
          for (const [name, ref] of Object.entries(n.params)) expect(hw.tensor(ref)).toEqual([...(gated.graph.initializers.get(name)!.data() as Float32Array)]);
        }
      });

      it("reproduces every one of pg's gate decisions in integer arithmetic, and its predictions and layer outputs", () => {
        const pgNodes = gated.graph.nodes.filter((n) => n.domain === PG_DOMAIN);
        const offsets = pgNodes.flatMap((n) => (n.opType === 'PGResidualConv' ? [n.inputs[5]] : []));
        const ours = runPg(gated, batch, [...new Set([...pgNodes.map((n) => n.outputs[0]), ...offsets])]);
        for (const node of pgNodes) {
          const layer = hw.layer(node.name);
          const input = ours.layerInputs.get(node.name)!;
          expect(input.shape.slice(1)).toEqual(layer.input_shape);
          const offset = layer.gate_offset === null ? undefined : ours.outputs[layer.gate_offset];
          if (offset) expect(offset.shape.slice(1)).toEqual(layer.output_shape);
          const r = evaluateLayer(hw, layer, input.data, batch.shape[0], offset?.data);
          const pgOut = ours.outputs[node.outputs[0]];
          expect(pgOut.shape).toEqual(r.shape);
          // The declared accumulator width holds every sum.
          expect(r.maxAbsAcc).toBeLessThan(2 ** (layer.accumulator.bits - 1));

          if (layer.kind === 'gated') {
            expect(layer.gated_off).toBe(c.mode === 'seernet' ? 'zero' : 'prediction');
            const mask = ours.gates.get(node.name)!.data;
            const bias = layer.bias ? hw.tensor(layer.bias.float) : undefined;
            const channel = channelOf(layer, batch.shape[0], r.accHb.length);
            const S = layer.accumulator.scale;
            let open = 0;
            let differing = 0;
            for (let i = 0; i < mask.length; i++) {
              open += r.gate[i];
              if (r.gate[i] !== mask[i]) differing++;
            }
            // pg (gated format 2) predicts f32(f32(acc_hb * c) + b) from the exact integer acc_hb, and the file's
            // integer thresholds encode exactly that float32 comparison (a residual gate: the same prediction plus
            // the offset, compared in float32): every decision is pg's.
            console.log(`${c.name} ${node.name}: ${mask.length - differing} of ${mask.length} gate decisions equal; ${differing} differ`);
            expect(differing).toBe(0);
            expect(open).toBeGreaterThan(0);
            expect(open).toBeLessThan(mask.length * 0.5);
            // The prediction from the integer accumulator is pg's prediction, bit for bit, with c computed from
            // the file's scales and levels in float32 (the op order in docs/hw-json.md).
            const unit = unitFloat32(layer);
            const predicted = Float32Array.from(r.accHb, (acc, i) => Math.fround(Math.fround(acc * unit) + Math.fround(bias?.[channel(i)] ?? 0)));
            // pg reports what its gate compares: a residual gate's prediction plus its offset.
            const compared = offset ? predicted.map((v, i) => Math.fround(v + offset.data[i])) : predicted;
            const pgPrediction = ours.predictions.get(node.name)!.data;
            expect(compared.every((v, i) => v === pgPrediction[i])).toBe(true);
            // and the float64 form S * acc_hb + b to float32 tolerance
            if (!offset)
              expect(
                maxRelativeDifference(
                  Float64Array.from(r.accHb, (acc, i) => S * acc + (bias?.[channel(i)] ?? 0)),
                  pgPrediction,
                ),
              ).toBeLessThan(1e-5);
          }
          // Outputs where the decisions agree: the float form to float32 tolerance; the all-integer form
          // (bias rounded to accumulator units) within half an accumulator unit more.
          const pgMask = ours.gates.get(node.name)?.data;
          const agree = (i: number) => pgMask === undefined || pgMask[i] === r.gate[i];
          const keep = <T extends Float64Array | Float32Array>(a: T) => a.filter((_, i) => agree(i));
          console.log(node.name, layer.kind, 'output max rel diff', maxRelativeDifference(keep(r.output), keep(pgOut.data)));
          expect(maxRelativeDifference(keep(r.output), keep(pgOut.data))).toBeLessThan(1e-5);
          let worst = 0;
          for (let i = 0; i < r.outputAcc.length; i++)
            if (agree(i)) worst = Math.max(worst, Math.abs(r.outputAcc[i] * layer.accumulator.scale - pgOut.data[i]) - Math.abs(r.output[i] - pgOut.data[i]));
          expect(worst).toBeLessThanOrEqual(layer.accumulator.scale * 0.5 * (1 + 1e-9));
          // pg's output itself, bit for bit, from the integer accumulators and c = f32(f32(s_x/n) f32(s_w/n_w)):
          // gated Y = P + M f32(acc_lb c) with P = f32(f32(acc_hb c) + b); quantized Y = f32(f32(acc c) + b).
          const unit = unitFloat32(layer);
          const outBias = layer.bias ? hw.tensor(layer.bias.float) : undefined;
          const outChannel = channelOf(layer, batch.shape[0], r.accLb.length);
          const y32 = Float32Array.from(r.accLb, (lb, i) => {
            const b = Math.fround(outBias?.[outChannel(i)] ?? 0);
            if (layer.kind === 'quantized') return Math.fround(Math.fround(lb * unit) + b);
            const p = Math.fround(Math.fround(r.accHb[i] * unit) + b);
            return r.gate[i] ? Math.fround(p + Math.fround(lb * unit)) : layer.gated_off === 'zero' ? 0 : p;
          });
          expect(
            y32.every((v, i) => v === pgOut.data[i]),
            `${node.name}: float32 output`,
          ).toBe(true);
        }
      });
    },
  );
}

describe('hw-json refusals', () => {
  it('refuses a model without pg layers, saying to convert it', async () => {
    const float = await readModel(fixtureModel('tiny-cnn'));
    await expect(exportFormat('hw-json').export(float, { output: join(dir, 'float.json') })).rejects.toThrow(/not a gated model/);
  });

  it('refuses dynamic activation scales, naming --act-scale static', async () => {
    const { model } = convertModel(await readModel(fixtureModel('tiny-cnn')), { bits: 4, hbits: 2, wbits: 8, actScale: 'dynamic' });
    const err = await exportFormat('hw-json')
      .export(model, { output: join(dir, 'dyn.json') })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).action).toMatch(/--act-scale static/);
  });

  it('refuses weights wider than 16 bits', async () => {
    const calibrated = { bits: 4, hbits: 2, wbits: 32, actScale: 'static' as const };
    const { model } = convertModel(await readModel(fixtureModel('tiny-cnn')), calibrated);
    const marked: Model = { ...model, metadata: { ...model.metadata, 'pg.act_scale': 'static' } };
    await expect(exportFormat('hw-json').export(marked, { output: join(dir, 'w32.json') })).rejects.toThrow(/--wbits 32/);
  });
});
