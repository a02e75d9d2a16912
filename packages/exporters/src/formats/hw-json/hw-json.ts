import { basename, extname } from 'node:path';
import {
  actScaleMode,
  attrFloat,
  attrInt,
  convGeometry,
  INTEGER_ACCUMULATION_VERSION,
  isPgNode,
  onnxOpset,
  PG_DOMAIN,
  pgLayers,
  gateKind,
  readPreprocessKey,
  UnsupportedModelError,
  UsageError,
  writeFilesAtomic,
  type AttributeValue,
  type ConstTensor,
  type Model,
  type Node,
  type PgLayer,
} from '@pg/core';
import type { ExportFileSpec, ExportFormat, ExportOptions, ExportResult } from '../export-format.js';
import { writtenFiles } from '../written-files.js';
import { HW_JSON_FORMAT, HW_JSON_VERSION, type HwDtype, type HwFloatNode, type HwLinearLayer, type HwModel, type HwTensorRef } from './format.js';
import { accUnitFloat32, accumulatorBits, biasInAcc, levels, thresholdsInAcc, thresholdsInAccFloat32, weightCodes } from './integer-params.js';
import { describeRecurrent } from './recurrent-layer.js';
import { floatData, intTensor, tensorRef, TensorFileBuilder } from './tensor-file.js';
import { probeValueShapes } from './value-shapes.js';

/** Weight codes need wbits + 1 bits with the sign; beyond 16 magnitude bits pg's weights are float in all but name. */
const MAX_HW_WBITS = 16;

/** `<output minus .json>.bin`: the tensor file next to the description. */
export function tensorFilePath(output: string): string {
  const stem = extname(output) === '.json' ? output.slice(0, -'.json'.length) : output;
  return `${stem}.bin`;
}

/** The tensor file first: the description refers to it. */
function hwJsonFiles(output: string): ExportFileSpec[] {
  return [
    { path: tensorFilePath(output), role: 'tensors' },
    { path: output, role: 'description' },
  ];
}

/** Checks the model can be described in integers: gated, static and calibrated scales, integer weights. */
function checkDescribable(model: Model, where: string): PgLayer[] {
  if (!model.graph.nodes.some(isPgNode)) {
    throw new UsageError(`${where} is not a gated model: hw-json describes pg's quantized layers, and it has none`, {
      action: 'convert it first (pg convert MODEL -o gated.onnx --data SPEC), then export the gated model',
    });
  }
  const layers = pgLayers(model);
  const dynamic = layers.filter((l) => l.dynamic);
  if (dynamic.length > 0) {
    throw new UsageError(
      `${where} uses dynamic activation scales (per-sample max|x|, e.g. layer '${dynamic[0].node.name}'): they are computed at run time, so no integer threshold can be fixed ahead of time`,
      { action: 'convert with --act-scale static and calibrate the scales (pg convert --act-scale static --data SPEC, or pg finetune), then export' },
    );
  }
  if (actScaleMode(model) === 'static-uncalibrated') {
    throw new UsageError(`${where} has static activation scales that were never calibrated (all 1)`, {
      action: 'calibrate them: pg convert --data SPEC, or pg finetune, then export',
    });
  }
  const wide = layers.find((l) => l.wbits > MAX_HW_WBITS);
  if (wide) {
    throw new UsageError(`${where}: layer '${wide.node.name}' has --wbits ${wide.wbits}; hw-json needs integer weights of at most ${MAX_HW_WBITS} bits`, {
      action: `convert with --wbits ${MAX_HW_WBITS} or less (8 is the default)`,
    });
  }
  return layers;
}

/** Accumulator-unit values (thresholds, biases) are stored as int32, or int64 when they need it. */
function accTensor(values: number[]): { dtype: HwDtype; data: Int32Array | BigInt64Array } {
  return values.every((v) => v >= -(2 ** 31) && v < 2 ** 31)
    ? { dtype: 'int32', data: Int32Array.from(values) }
    : { dtype: 'int64', data: BigInt64Array.from(values, (v) => BigInt(v)) };
}

/** Whether the model's pg layers accumulate integer codes (gated format 2 and later). */
function integerAccumulation(model: Model): boolean {
  return (model.opsetImports.find((o) => o.domain === PG_DOMAIN)?.version ?? 1) >= INTEGER_ACCUMULATION_VERSION;
}

function describeLinear(layer: PgLayer, model: Model, shapes: Map<string, number[]>, file: TensorFileBuilder, where: string): HwLinearLayer {
  const { node } = layer;
  const init = (name: string | undefined): ConstTensor | undefined => (name ? model.graph.initializers.get(name) : undefined);
  const w = init(layer.weight);
  const s = init(layer.actScale);
  if (!w || !s) {
    throw new UnsupportedModelError(`${where}: node '${node.name}' (${node.opType}): its weight and activation scale must be initializers`, {
      action: 'export a model written by pg convert or pg finetune',
    });
  }
  const isConv = node.opType.endsWith('Conv');
  const isMatMul = node.opType.endsWith('MatMul');
  const inShape = shapes.get(node.inputs[0]);
  const outShape = shapes.get(node.outputs[0]);
  if (!inShape || !outShape) throw new UnsupportedModelError(`${where}: node '${node.name}': its input or output shape is unknown`);
  let conv: HwLinearLayer['conv'] = null;
  let transB: number | null = null;
  let alpha: number | null = null;
  let beta: number | null = null;
  let fanIn: number;
  if (isConv) {
    if (w.dims.length !== 4 || inShape.length !== 4) {
      throw new UnsupportedModelError(`${where}: node '${node.name}' is a ${w.dims.length - 2}-D convolution; hw-json describes 2-D ones`, {
        action: 'exclude the layer when converting (--exclude)',
      });
    }
    const [, cinPerGroup, kh, kw] = w.dims;
    const g = convGeometry(node, [inShape[2], inShape[3]], [kh, kw]);
    const [pt, pb, pl, pr] = g.pads;
    conv = { kernel_shape: [kh, kw], strides: g.strides, pads: [pt, pl, pb, pr], dilations: g.dilations, group: attrInt(node, 'group', 1) };
    fanIn = cinPerGroup * kh * kw;
  } else if (isMatMul) {
    // PGMatMul / QMatMul: W is [K, F], applied over the input's last axis (every token alike).
    fanIn = w.dims[0];
  } else {
    if (attrInt(node, 'transA', 0) !== 0) {
      throw new UnsupportedModelError(`${where}: node '${node.name}' (${node.opType}) has transA = 1, which is not part of the gated format`, {
        action: 'convert the float model again: pg convert writes a Transpose in front of a Gemm with transA = 1',
      });
    }
    alpha = attrFloat(node, 'alpha', 1);
    beta = attrFloat(node, 'beta', 1);
    transB = attrInt(node, 'transB', 0);
    fanIn = transB === 1 ? w.dims[1] : w.dims[0];
  }

  const n = levels(layer.bits);
  const nw = levels(layer.wbits);
  const scale = floatData(s)[0];
  const { codes, scale: sw } = weightCodes(floatData(w), layer.wbits);
  // A Gemm's alpha scales pg's accumulator unit: |alpha| goes into S, its sign into the codes (exact: a
  // negative unit times acc is the positive unit times -acc), so S stays positive and the gate acc > T.
  if (alpha !== null && alpha < 0) codes.forEach((k, i) => (codes[i] = -k));
  const accScale = (scale / n) * (sw / nw) * Math.abs(alpha ?? 1);
  const accUnit = accUnitFloat32(scale, n, sw, nw, alpha ?? 1);
  const maxAcc = fanIn * n * nw;
  const codesT = intTensor(codes);
  const bias = init(layer.bias);
  // Output channels: axis 1 of a Conv's NCHW, the last axis of a Gemm's [N, F] and a MatMul's [N, ..., F].
  const channels = outShape[isConv ? 1 : outShape.length - 1];
  const biasF = bias && (beta === null ? floatData(bias) : gemmBias(bias, beta, channels, node, where));
  const ref = (t: { dtype: HwDtype; data: Int8Array | Int16Array | Int32Array | BigInt64Array | Float32Array }, shape: number[]): HwTensorRef => file.add(t.dtype, shape, t.data);

  let threshold: HwLinearLayer['threshold'] = null;
  if (layer.gated) {
    const delta = init(layer.threshold);
    if (!delta) throw new UnsupportedModelError(`${where}: node '${node.name}': its threshold must be an initializer`);
    const d = floatData(delta);
    // Format 2 predicts f32(f32(acc_hb * c) + b) from an exact integer acc_hb: T reproduces that float32
    // gate exactly. Format 1 convolved float values; T is then the exact rational threshold.
    // A residual gate adds a run-time float value to the prediction: no threshold in accumulator units exists.
    const acc =
      layer.gateOffset !== undefined ? null : integerAccumulation(model) ? thresholdsInAccFloat32(d, biasF, accUnit, maxAcc) : thresholdsInAcc(d, biasF, accScale, maxAcc);
    threshold = {
      float: ref({ dtype: 'float32', data: d }, [channels]),
      acc: acc && ref(accTensor(acc), [channels]),
    };
  }
  const step = layer.gated ? 2 ** (layer.bits - layer.hbits!) : null;
  return {
    kind: layer.gated ? 'gated' : 'quantized',
    op: isConv ? 'Conv' : isMatMul ? 'MatMul' : 'Gemm',
    name: node.name,
    input: node.inputs[0],
    output: node.outputs[0],
    input_shape: inShape.slice(1),
    output_shape: outShape.slice(1),
    conv,
    trans_b: transB,
    alpha,
    beta,
    activation: { bits: layer.bits, hbits: layer.hbits, step, levels: n, scale },
    weights: { bits: layer.wbits, levels: nw, scale: sw, codes: ref(codesT, w.dims.slice()) },
    accumulator: { scale: accScale, bits: accumulatorBits(fanIn, n, nw), fan_in: fanIn },
    bias: biasF ? { float: ref({ dtype: 'float32', data: biasF }, [biasF.length]), acc: ref(accTensor(biasInAcc(biasF, accScale)), [biasF.length]) } : null,
    threshold,
    gate: gateKind(layer),
    gate_offset: layer.gateOffset ?? null,
    gated_off: layer.gated ? (layer.recompute ? 'zero' : 'prediction') : null,
  };
}

/**
 * A Gemm's bias per output, f32(C * beta) as pg adds it. C broadcasts to the output [M, N]: a scalar, [N],
 * [1, N] (or [1, 1]) give one value per output; a C with a row per sample ([M, N], M > 1) is refused, since
 * hw-json describes one sample at a time.
 */
function gemmBias(c: ConstTensor, beta: number, channels: number, node: Node, where: string): Float32Array {
  const values = floatData(c);
  const last = c.dims.length ? c.dims[c.dims.length - 1] : 1;
  if (c.dims.slice(0, -1).some((d) => d !== 1) || (last !== 1 && last !== channels)) {
    throw new UnsupportedModelError(
      `${where}: node '${node.name}' (${node.opType}): its C '${c.name}' of shape [${c.dims.join(', ')}] is not one value per output; hw-json describes one sample at a time`,
      {
        action: 'give the Gemm a C of shape [N] (or a scalar), or exclude the layer when converting (--exclude)',
      },
    );
  }
  return Float32Array.from({ length: channels }, (_, o) => Math.fround(values[last === 1 ? 0 : o] * beta));
}

function jsonAttribute(a: AttributeValue, file: TensorFileBuilder, where: string, node: Node, key: string): HwFloatNode['attributes'][string] {
  switch (a.type) {
    case 'float':
    case 'int':
    case 'string':
    case 'floats':
    case 'ints':
    case 'strings':
      return a.value;
    case 'tensor':
      return tensorRef(a.value, file, where);
    default:
      throw new UnsupportedModelError(`${where}: node '${node.name}' (${node.opType}) has a ${a.type} attribute '${key}', which hw-json cannot describe`, {
        action: 'hw-json describes feed-forward graphs without subgraphs',
      });
  }
}

function describeFloat(node: Node, model: Model, file: TensorFileBuilder, where: string): HwFloatNode {
  const params: Record<string, HwTensorRef> = {};
  for (const i of node.inputs) {
    const t = i ? model.graph.initializers.get(i) : undefined;
    if (t && !(i in params)) params[i] = tensorRef(t, file, where);
  }
  const attributes = Object.fromEntries(Object.entries(node.attributes).map(([k, a]) => [k, jsonAttribute(a, file, where, node, k)]));
  return { kind: 'float', op: node.opType, domain: node.domain, name: node.name, inputs: node.inputs, outputs: node.outputs, attributes, params };
}

/** The description and its tensors, not yet written. */
export async function describeForHardware(model: Model, tensorFileName: string): Promise<{ description: HwModel; tensors: Uint8Array[] }> {
  const where = model.sourcePath ?? 'the model';
  const layers = new Map(checkDescribable(model, where).map((l) => [l.node, l]));
  const { order, shapes } = await probeValueShapes(model);
  const file = new TensorFileBuilder();
  const nodes = order.map((node) => {
    const layer = layers.get(node);
    if (!layer) return describeFloat(node, model, file, where);
    return layer.recurrentWeight !== undefined ? describeRecurrent(layer, model, file, where) : describeLinear(layer, model, shapes, file, where);
  });
  const mean = readPreprocessKey(model, 'mean');
  const std = readPreprocessKey(model, 'std');
  const description: HwModel = {
    format: HW_JSON_FORMAT,
    version: HW_JSON_VERSION,
    producer: 'pg',
    tensor_file: tensorFileName,
    onnx_opset: onnxOpset(model),
    inputs: model.graph.inputs.filter((i) => !model.graph.initializers.has(i.name)).map((i) => ({ name: i.name, shape: i.shape ?? [], dtype: i.dtype })),
    outputs: model.graph.outputs.map((o) => o.name),
    preprocess: mean && std ? { mean, std } : null,
    value_shapes: Object.fromEntries(shapes),
    nodes,
  };
  return { description, tensors: file.chunksToWrite() };
}

/** Indented JSON with arrays of numbers on one line (shapes, strides, pads), so the file reads as a table. */
function formatJson(value: unknown): string {
  return JSON.stringify(value, null, 1).replace(/\[[\s\d.eE+\-,]*\]/g, (a) => a.replace(/\s+/g, '').replace(/,/g, ', '));
}

export const hwJsonFormat: ExportFormat = {
  name: 'hw-json',
  description: 'An integer description for hardware (JSON + a binary tensor file): integer weights, scales, thresholds in accumulator units.',
  files: hwJsonFiles,
  async export(model: Model, options: ExportOptions): Promise<ExportResult> {
    const files = hwJsonFiles(options.output);
    const [bin, json] = files;
    const { description, tensors } = await describeForHardware(model, basename(bin.path));
    await writeFilesAtomic([
      { path: bin.path, data: tensors },
      { path: json.path, data: `${formatJson(description)}\n` },
    ]);
    const gated = description.nodes.filter((n) => n.kind === 'gated').length;
    const quantized = description.nodes.filter((n) => n.kind === 'quantized').length;
    const float = description.nodes.filter((n) => n.kind === 'float').length;
    return {
      format: 'hw-json',
      files: await writtenFiles(files),
      notes: [`${gated} gated and ${quantized} statically quantized layer(s) described in integers; ${float} other node(s) listed as ONNX ops with float parameters`],
    };
  },
};
