import * as tf from '@tensorflow/tfjs-core';
import * as ort from 'onnxruntime-node';
import { Executor, OBSERVE, inlineFunctions, isGatedNode, isPgNode, opRegistry, writeModel, type Batch, type Model, type Node } from '../../src/internal.js';

// Gate decisions of a gated model in pg and in ONNX Runtime, for the tests that compare them.

/** ONNX Runtime's first output of the model file at `path`, on one batch. */
export async function runOrt(path: string, b: Batch): Promise<Float32Array> {
  const sess = await ort.InferenceSession.create(path);
  const out = await sess.run({ [sess.inputNames[0]]: new ort.Tensor('float32', b.x, b.shape) });
  return out[sess.outputNames[0]].data as Float32Array;
}

export interface GateRun {
  output: Float32Array;
  /**
   * Per gated layer, in ONNX's layout (NCHW / [N, C]): its input, what its gate compares (O_hb, plus the gate
   * offset for a residual gate), its gate (1 = updated); and a residual gate's offset.
   */
  inputs: Map<string, { shape: number[]; data: Float32Array }>;
  offsets: Map<string, { shape: number[]; data: Float32Array }>;
  predictions: Map<string, Float32Array>;
  gates: Map<string, ArrayLike<number>>;
  /** Per gated layer, its output Y (NCHW / [N, C]). */
  layerOutputs: Map<string, Float32Array>;
}

/** pg's output and each gated layer's input, prediction and gate decisions. */
export function runPgGates(model: Model, b: Batch): GateRun {
  const exec = new Executor(model, { registry: opRegistry });
  const run: GateRun = { output: new Float32Array(), inputs: new Map(), offsets: new Map(), predictions: new Map(), gates: new Map(), layerOutputs: new Map() };
  const gated = model.graph.nodes.filter(isGatedNode);
  const into = { [OBSERVE.prediction]: run.predictions, [OBSERVE.gate]: run.gates } as Record<string, Map<string, ArrayLike<number>>>;
  try {
    run.output = tf.tidy(() => {
      const out = exec.run(
        { [model.graph.inputs[0].name]: tf.tensor(b.x, b.shape) },
        {
          observer: {
            wants: (n: Node, k: string) => isGatedNode(n) && (k in into || k === OBSERVE.input || k === OBSERVE.offset),
            observe: (n: Node, k: string, t: tf.Tensor) => {
              const logical = t.rank === 4 ? tf.transpose(t, [0, 3, 1, 2]) : t;
              const data = logical.dataSync() as Float32Array;
              if (k === OBSERVE.input) run.inputs.set(n.name, { shape: logical.shape, data });
              else if (k === OBSERVE.offset) run.offsets.set(n.name, { shape: logical.shape, data });
              else into[k].set(n.name, data);
            },
          },
          outputs: [model.graph.outputs[0].name, ...gated.map((n) => n.outputs[0])],
        },
      );
      for (const n of gated) run.layerOutputs.set(n.name, out[n.outputs[0]].dataSync() as Float32Array);
      return out[model.graph.outputs[0].name].dataSync() as Float32Array;
    });
    return run;
  } finally {
    exec.dispose();
  }
}

/**
 * ONNX Runtime on the model with pg's functions inlined (what ONNX Runtime does on load), with every gated
 * layer's prediction and gate (the body's Greater and its first input) as extra outputs.
 */
export async function runOrtGates(model: Model, path: string, b: Batch): Promise<GateRun> {
  const graph = inlineFunctions(model, isPgNode);
  const layers = model.graph.nodes
    .filter(isGatedNode)
    .map((n) => ({ name: n.name, input: n.inputs[0], output: n.outputs[0], greater: graph.nodes.find((g) => g.name.startsWith(`${n.name}/`) && g.opType === 'Greater')! }));
  const extra = layers
    .flatMap((l) => [
      { name: l.greater.inputs[0], dtype: 'float32' as const },
      { name: l.greater.outputs[0], dtype: 'bool' as const },
      { name: l.input, dtype: 'float32' as const },
      { name: l.output, dtype: 'float32' as const },
    ])
    .filter((o, i, all) => all.findIndex((p) => p.name === o.name) === i);
  const probe: Model = { ...model, graph: { ...graph, outputs: [...graph.outputs, ...extra.filter((o) => !graph.outputs.some((g) => g.name === o.name))] } };
  await writeModel(probe, path);
  const sess = await ort.InferenceSession.create(path);
  const out = await sess.run({ [sess.inputNames[0]]: new ort.Tensor('float32', b.x, b.shape) });
  const data = (name: string) => out[name].data as Float32Array;
  return {
    output: data(model.graph.outputs[0].name),
    inputs: new Map(layers.map((l) => [l.name, { shape: [...out[l.input].dims], data: data(l.input) }])),
    offsets: new Map(),
    predictions: new Map(layers.map((l) => [l.name, data(l.greater.inputs[0])])),
    gates: new Map(layers.map((l) => [l.name, out[l.greater.outputs[0]].data as Uint8Array])),
    layerOutputs: new Map(layers.map((l) => [l.name, data(l.output)])),
  };
}

/**
 * One gated layer alone in ONNX Runtime (its function inlined), fed `input` (and a residual gate's `offset`):
 * what its gate compares, and its gate.
 */
export async function ortLayer(
  model: Model,
  layer: string,
  input: Float32Array,
  shape: number[],
  path: string,
  offset?: { shape: number[]; data: Float32Array },
): Promise<{ prediction: Float32Array; gate: Uint8Array }> {
  const node = model.graph.nodes.find((n) => n.name === layer)!;
  const single: Model = { ...model, graph: { ...model.graph, nodes: [node] } };
  const nodes = inlineFunctions(single, isPgNode).nodes;
  const greater = nodes.find((n) => n.opType === 'Greater')!;
  const used = new Set(nodes.flatMap((n) => n.inputs));
  const graph = {
    ...model.graph,
    nodes,
    initializers: new Map([...model.graph.initializers].filter(([k]) => used.has(k))),
    inputs: [{ name: node.inputs[0], dtype: 'float32' as const, shape }, ...(offset ? [{ name: node.inputs[5], dtype: 'float32' as const, shape: offset.shape }] : [])],
    outputs: [
      { name: greater.inputs[0], dtype: 'float32' as const },
      { name: greater.outputs[0], dtype: 'bool' as const },
    ],
    valueInfo: new Map(),
  };
  await writeModel({ ...model, graph }, path);
  const sess = await ort.InferenceSession.create(path);
  const feeds = { [node.inputs[0]]: new ort.Tensor('float32', input, shape), ...(offset ? { [node.inputs[5]]: new ort.Tensor('float32', offset.data, offset.shape) } : {}) };
  const out = await sess.run(feeds);
  return { prediction: out[greater.inputs[0]].data as Float32Array, gate: out[greater.outputs[0]].data as Uint8Array };
}

/** Every element the same float32 value (-0 and 0 count as equal: they give the same codes and decisions). */
export const sameValues = (a: ArrayLike<number>, b: ArrayLike<number>): boolean => a.length === b.length && Array.prototype.every.call(a, (v: number, i: number) => v === b[i]);
