import type { AttributeValue, Graph, Model, Node } from '../ir.js';
import { onnxOpset } from '../ir.js';
import { constTensor, numElements, type ConstTensor } from '../tensor.js';
import { consumersOf, producersOf } from '../edges.js';
import { constantValue } from '../constants.js';

/** A BatchNormalization folded into the Conv or Gemm before it. */
export interface BatchNormFold {
  /** The BatchNormalization node (its name, or its output when unnamed). */
  node: string;
  /** The Conv/Gemm node it was folded into. */
  into: string;
  /** Channels whose scale γ/√(var+ε) was negative: folding flips their sign into the layer's weights. */
  negativeScales: number;
}

/** A BatchNormalization left in the graph, and why it could not be folded. */
export interface BatchNormKept {
  node: string;
  /** The same words for the same cause (no node names), so reasons can be counted. */
  reason: string;
}

export interface FoldBatchNormResult {
  model: Model;
  folded: BatchNormFold[];
  kept: BatchNormKept[];
  /** Each layer that absorbed a BatchNormalization, mapped to its folded node. */
  replaced: Map<Node, Node>;
}

const LAYERS = new Set(['Conv', 'Gemm']);
const isDefault = (n: Node) => n.domain === '' || n.domain === 'ai.onnx';
const label = (n: Node) => n.name || n.outputs[0];

/**
 * Folds every BatchNormalization in inference form into the Conv or Gemm that feeds it:
 * with a = γ/√(var+ε) per channel, the layer's output channel c gets weights a_c·W_c and bias
 * a_c·(b_c − mean_c) + β_c (computed in float64, rounded once to float32), and the BN node goes; the
 * layer takes over its output name. Exact up to that rounding. A BN is left in place, with the reason,
 * when folding would change what some node computes: its input comes from another op or is read by
 * other nodes too (or is a model output), it normalises with batch statistics (training_mode=1 at opset
 * 14+, or its running-statistics outputs are read), its parameters are not constants, or they are not
 * one per channel (spatial=0 before opset 9 with per-activation statistics). BatchNormalization's forms
 * from opset 6 to 15 are read; the model's opset is kept.
 */
export function foldBatchNormalization(model: Model): FoldBatchNormResult {
  const graph = model.graph;
  const opset = onnxOpset(model);
  const consumers = consumersOf(graph);
  const producers = producersOf(graph);
  const graphInputs = new Set(graph.inputs.map((i) => i.name));
  const outputs = new Set(graph.outputs.map((o) => o.name));
  const initializers = new Map(graph.initializers);
  const taken = new Set<string>([...initializers.keys(), ...graphInputs, ...graph.nodes.flatMap((n) => n.outputs)]);
  /** Initializers this pass wrote: a later fold into the same layer may overwrite them. */
  const own = new Set<string>();
  const latest = new Map<Node, Node>();
  const origin = new Map<Node, Node>();
  const removed = new Set<Node>();
  const released = new Set<string>();
  const folded: BatchNormFold[] = [];
  const kept: BatchNormKept[] = [];

  const fresh = (base: string): string => {
    let name = base;
    for (let k = 1; taken.has(name); k++) name = `${base}_${k}`;
    taken.add(name);
    return name;
  };
  const readers = (name: string) => (consumers.get(name)?.length ?? 0) + (outputs.has(name) ? 1 : 0);
  /** A name to write a layer's new parameter under: its own initializer when nothing else reads it. */
  const target = (name: string | undefined, fallback: () => string): string => {
    if (name && (own.has(name) || (graph.initializers.has(name) && readers(name) === 1 && !graphInputs.has(name)))) return name;
    if (name) released.add(name);
    const n = fallback();
    own.add(n);
    return n;
  };

  for (const bn of graph.nodes) {
    if (bn.opType !== 'BatchNormalization' || !isDefault(bn)) continue;
    // The initializers as folded so far: a BN after a BN folds into the layer that took in the first.
    const plan = planFold(bn, { graph: { ...graph, initializers }, opset, consumers, producers, outputs });
    if (typeof plan === 'string') {
      kept.push({ node: label(bn), reason: plan });
      continue;
    }
    const { layer, a, shift, weight, bias } = plan;
    const w = layer.inputs[1];
    const wName = target(w, () => fresh(`${w}_bn_folded`));
    initializers.set(wName, constTensor(wName, 'float32', weight.dims.slice(), scaleWeight(layer, weight, a)));
    const hasBias = layer.inputs.length > 2 && layer.inputs[2] !== '';
    const beta = layer.opType === 'Gemm' ? floatAttr(layer, 'beta', 1) : 1;
    const b = hasBias ? expandBias(bias!, a.length) : new Float64Array(a.length);
    const biasValues = Float32Array.from(a, (ac, c) => ac * beta * b[c] + shift[c]);
    const betaInput = bn.inputs[2];
    const bName = target(hasBias ? layer.inputs[2] : undefined, () =>
      graph.initializers.has(betaInput) && readers(betaInput) === 1 && !graphInputs.has(betaInput) ? betaInput : fresh(`${label(layer)}.bias`),
    );
    initializers.set(bName, constTensor(bName, 'float32', [a.length], biasValues));
    const attributes: Record<string, AttributeValue> = { ...layer.attributes };
    delete attributes.beta;
    const next: Node = { ...layer, inputs: [layer.inputs[0], wName, bName], outputs: [bn.outputs[0], ...layer.outputs.slice(1)], attributes };
    const first = origin.get(layer) ?? layer;
    latest.set(first, next);
    origin.set(next, first);
    producers.set(bn.outputs[0], next);
    removed.add(bn);
    for (const p of bn.inputs.slice(1)) released.add(p);
    folded.push({ node: label(bn), into: label(layer), negativeScales: a.filter((v) => v < 0).length });
  }

  if (folded.length === 0) return { model, folded, kept, replaced: new Map() };
  const nodes = graph.nodes.filter((n) => !removed.has(n)).map((n) => latest.get(n) ?? n);
  const valueInfo = new Map(graph.valueInfo);
  for (const [first] of latest) valueInfo.delete(first.outputs[0]);
  const swept = dropUnread({ ...graph, nodes, initializers, valueInfo }, released, own);
  return { model: { ...model, graph: swept }, folded, kept, replaced: latest };
}

interface FoldContext {
  graph: Graph;
  opset: number;
  consumers: Map<string, Node[]>;
  producers: Map<string, Node>;
  outputs: Set<string>;
}

interface FoldPlan {
  layer: Node;
  /** Per channel: the scale a = γ/√(var+ε) and the shift β − a·mean, in float64. */
  a: Float64Array;
  shift: Float64Array;
  weight: ConstTensor;
  bias?: ConstTensor;
}

/** How to fold `bn`, or why it cannot be. */
function planFold(bn: Node, ctx: FoldContext): FoldPlan | string {
  const { graph, opset, consumers, producers, outputs } = ctx;
  if (opset >= 14 && intAttr(bn, 'training_mode', 0) === 1) return "training_mode=1: it normalises with each batch's own statistics";
  const statsRead = bn.outputs.slice(1).some((o) => o && ((consumers.get(o)?.length ?? 0) > 0 || outputs.has(o)));
  if (statsRead) return 'its running-statistics outputs are read (the training form)';
  const x = bn.inputs[0];
  const layer = producers.get(x);
  if (!layer || !LAYERS.has(layer.opType) || !isDefault(layer)) return `its input comes from ${layer ? `a ${layer.opType}` : 'the model input'}, not from a Conv or Gemm`;
  const others = (consumers.get(x)?.length ?? 0) - 1 + (outputs.has(x) ? 1 : 0);
  if (others > 0) return `its input, a ${layer.opType}'s output, is also read by other nodes or is a model output, which would see the folded values`;
  const params = bn.inputs.slice(1, 5).map((n) => (n ? constantValue(graph, n, producers) : undefined));
  if (params.length < 4 || params.some((p) => p === undefined || p.dtype !== 'float32')) return 'its scale, bias, mean and variance are not all float32 constants';
  const weight = constantValue(graph, layer.inputs[1], producers);
  const bias = layer.inputs[2] ? constantValue(graph, layer.inputs[2], producers) : undefined;
  if (!weight || weight.dtype !== 'float32' || (layer.inputs[2] && (!bias || bias.dtype !== 'float32'))) {
    return `the ${layer.opType}'s weights or bias are not float32 constants`;
  }
  const channels = outputChannels(layer, weight);
  const [scale, beta, mean, variance] = params.map((p) => Float64Array.from(p!.data() as Float32Array));
  if ([scale, beta, mean, variance].some((p) => p.length !== channels)) {
    const spatial = opset < 9 && intAttr(bn, 'spatial', 1) === 0;
    return spatial ? 'spatial=0 with statistics per activation, not per channel' : `its parameters do not have one value per output channel of the ${layer.opType}`;
  }
  if (bias && expandBias(bias, channels).length !== channels) return "the Gemm's C is not one value per output column";
  const eps = floatAttr(bn, 'epsilon', 1e-5);
  const a = scale.map((g, c) => g / Math.sqrt(variance[c] + eps));
  const shift = beta.map((b, c) => b - a[c] * mean[c]);
  return { layer, a, shift, weight, bias };
}

/** Output channels: the Conv's M (weights M×C/g×k…), or the Gemm's columns (B is K×M, M×K with transB). */
function outputChannels(layer: Node, w: ConstTensor): number {
  if (layer.opType === 'Conv') return w.dims[0];
  return intAttr(layer, 'transB', 0) === 1 ? w.dims[0] : w.dims[1];
}

/** Weights with output channel c scaled by a_c, rounded once to float32. */
function scaleWeight(layer: Node, w: ConstTensor, a: Float64Array): Float32Array {
  const data = w.data() as Float32Array;
  const channels = a.length;
  // Conv (M×…) and Gemm with transB (M×K): channel-major rows. Gemm K×M: channel is the fastest axis.
  const rowMajor = layer.opType === 'Conv' || intAttr(layer, 'transB', 0) === 1;
  const per = numElements(w.dims) / channels;
  return Float32Array.from(data, (v, i) => v * a[rowMajor ? Math.floor(i / per) : i % channels]);
}

/** A bias as one value per channel: a Conv's [M], a Gemm's C as a scalar, [1], [M] or [1, M]; else empty. */
function expandBias(b: ConstTensor, channels: number): Float64Array {
  const v = b.data() as Float32Array;
  if (v.length === 1) return new Float64Array(channels).fill(v[0]);
  const rows = b.dims.length === 2 ? b.dims[0] : 1;
  return v.length === channels && rows === 1 ? Float64Array.from(v) : new Float64Array();
}

/** Removes the `candidates` nothing reads any more (initializers, and the Identity/Constant nodes that made them). */
function dropUnread(graph: Graph, candidates: Set<string>, own: Set<string>): Graph {
  const initializers = new Map(graph.initializers);
  let nodes = graph.nodes;
  const inputs = new Set(graph.inputs.map((i) => i.name));
  const outputs = new Set(graph.outputs.map((o) => o.name));
  const pending = [...candidates].filter((c) => !own.has(c));
  while (pending.length) {
    const name = pending.pop()!;
    if (outputs.has(name) || nodes.some((n) => n.inputs.includes(name))) continue;
    if (initializers.has(name)) {
      if (!inputs.has(name)) initializers.delete(name);
      continue;
    }
    const maker = nodes.find((n) => n.outputs.includes(name));
    if (maker && isDefault(maker) && (maker.opType === 'Identity' || maker.opType === 'Constant')) {
      nodes = nodes.filter((n) => n !== maker);
      pending.push(...maker.inputs.filter(Boolean));
    }
  }
  return { ...graph, nodes, initializers };
}

function intAttr(n: Node, name: string, fallback: number): number {
  const a = n.attributes[name];
  return a && a.type === 'int' ? a.value : fallback;
}

function floatAttr(n: Node, name: string, fallback: number): number {
  const a = n.attributes[name];
  return a && (a.type === 'float' || a.type === 'int') ? a.value : fallback;
}
