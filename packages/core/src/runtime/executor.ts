import * as tf from '@tensorflow/tfjs-core';
import type { Graph, Model, Node } from '../graph/index.js';
import { topologicalOrder } from '../graph/topo.js';
import { inlineFunctions } from '../graph/passes/inline-functions.js';
import { InvalidDataError, InvalidModelError, UnsupportedModelError } from '../errors/index.js';
import type { KernelContext, KernelEntry, KernelSettings, Observer } from './kernel.js';
import { defaultRegistry, normaliseDomain, type OpRegistry } from './registry.js';
import { constInts, toTfTensor } from './tensor-convert.js';
import { plain, toLogical, type RtValue } from './value.js';
import './ops/index.js';

export interface ExecutorOptions {
  registry?: OpRegistry;
}

export interface RunOptions {
  /** Output names to return; the graph's outputs by default. */
  outputs?: string[];
  observer?: Observer;
  /** Set while a gradient tape records: intermediates are kept for the backward pass. */
  training?: boolean;
  settings?: KernelSettings;
}

interface Step {
  node: Node;
  entry: KernelEntry;
  opset: number;
  /** Values whose last reader is this step, freed after it when not training. */
  frees: string[];
  /** A Relu / ReLU6 that reads only this Conv's output: run inside the conv outside training. */
  fusable?: { activation: 'relu' | 'relu6'; node: Node };
}

/**
 * Runs an ONNX graph on TensorFlow.js. Construction checks every op once (so an unsupported op fails
 * before any data is read) and plans the order; `run` evaluates it. Initializers become tfjs tensors on
 * first use and stay until `dispose`; `setParam` swaps one for a trainable variable.
 */
export class Executor {
  readonly graph: Graph;
  private readonly steps: Step[];
  private readonly params = new Map<string, tf.Tensor>();
  private readonly plans = new Map<string, Step[]>();

  constructor(readonly model: Model, opts: ExecutorOptions = {}) {
    const registry = opts.registry ?? defaultRegistry;
    const where = model.sourcePath ?? 'the model';
    // Custom ops without a kernel run through their model-local function, as in ONNX Runtime.
    this.graph = inlineFunctions(model, (n) => !registry.get(n.domain, n.opType));
    const order = topologicalOrder(this.graph, where);
    const opsets = new Map(model.opsetImports.map((o) => [normaliseDomain(o.domain), o.version]));
    const readers = new Map<string, Node[]>();
    for (const n of order) for (const v of new Set(n.inputs)) if (v) readers.set(v, [...(readers.get(v) ?? []), n]);
    const lastUse = new Map<string, number>();
    order.forEach((n, i) => n.inputs.forEach((v) => v && lastUse.set(v, i)));
    const keep = new Set([...this.graph.outputs.map((o) => o.name), ...this.graph.initializers.keys()]);
    this.steps = order.map((node, i) => {
      const domain = normaliseDomain(node.domain);
      const entry = registry.get(domain, node.opType);
      const opset = opsets.get(domain) ?? 1;
      if (!entry) {
        throw new UnsupportedModelError(`${where}: node '${node.name}' uses op '${domain ? domain + '.' : ''}${node.opType}', which pg cannot run`, {
          action: `pg supports: ${registry.ops('').join(', ')}. Remove or replace the op (or open an issue asking for it)`,
        });
      }
      if (opset < entry.minOpset || opset > entry.maxOpset) {
        throw new UnsupportedModelError(`${where}: node '${node.name}' (${node.opType}) at opset ${opset} is outside what pg supports (${entry.minOpset}..${entry.maxOpset})`, {
          action: 're-export the model with a supported opset',
        });
      }
      const frees = node.inputs.filter((v, k) => v && lastUse.get(v) === i && !keep.has(v) && node.inputs.indexOf(v) === k);
      return { node, entry, opset, frees, fusable: fusableActivation(node, this.graph, readers, keep, opsets.get('') ?? 1) };
    });
  }

  /** The nodes in execution order. */
  get order(): Node[] {
    return this.steps.map((s) => s.node);
  }

  /** The tensor for an initializer, created on first use. */
  param(name: string): tf.Tensor | undefined {
    let t = this.params.get(name);
    if (!t) {
      const ct = this.graph.initializers.get(name);
      if (!ct) return undefined;
      t = tf.keep(toTfTensor(ct));
      this.params.set(name, t);
    }
    return t;
  }

  /** Replaces an initializer's tensor (e.g. by a tf.Variable for training). The caller owns `t`. */
  setParam(name: string, t: tf.Tensor): void {
    const old = this.params.get(name);
    if (old && old !== t && this.graph.initializers.has(name) && !(old instanceof tf.Variable)) old.dispose();
    this.params.set(name, t);
  }

  run(feeds: Record<string, tf.Tensor>, opts: RunOptions = {}): Record<string, tf.Tensor> {
    const values = new Map<string, RtValue>();
    for (const input of this.graph.inputs) {
      if (this.graph.initializers.has(input.name)) continue;
      const t = feeds[input.name];
      if (!t) {
        throw new InvalidDataError(`no value given for the model's input '${input.name}'`, {
          action: `inputs are: ${this.graph.inputs.map((i) => i.name).join(', ')}`,
        });
      }
      checkFeedShape(input.name, input.shape, t.shape);
      values.set(input.name, plain(t));
    }
    const lookup = (name: string): RtValue | undefined => {
      if (!name) return undefined;
      const v = values.get(name);
      if (v) return v;
      const p = this.param(name);
      return p ? plain(p) : undefined;
    };
    const asked = new Set(opts.outputs ?? []);
    const fusedInto = new Set<Node>();
    for (const step of this.plan(opts.outputs)) {
      const { node } = step;
      if (fusedInto.has(node)) {
        for (const f of step.frees) values.delete(f);
        continue;
      }
      // Conv + Relu in one kernel when nobody asks for the conv's own output and no tape records.
      const fuse = !opts.training && step.fusable && !asked.has(node.outputs[0]) ? step.fusable : undefined;
      const inputs = node.inputs.map(lookup);
      const ctx: KernelContext = {
        node,
        opset: step.opset,
        activation: fuse?.activation,
        training: opts.training ?? false,
        observer: opts.observer,
        settings: opts.settings ?? {},
        readInts: (i) => this.readNumbers(node.inputs[i], inputs[i]),
        readFloats: (i) => this.readNumbers(node.inputs[i], inputs[i]),
      };
      let outs: RtValue[];
      try {
        outs = step.entry.kernel(inputs, ctx);
      } catch (e) {
        if (e instanceof InvalidModelError || e instanceof UnsupportedModelError || e instanceof InvalidDataError) throw e;
        throw new UnsupportedModelError(`node '${node.name}' (${node.opType}) failed: ${(e as Error).message}`, {
          action: 'check the input shapes; if the model runs in ONNX Runtime, this is a pg bug: please report it with the model',
          cause: e,
        });
      }
      if (fuse) {
        values.set(fuse.node.outputs[0], outs[0]);
        fusedInto.add(fuse.node);
      } else {
        node.outputs.forEach((o, k) => o && outs[k] && values.set(o, outs[k]));
      }
      if (!opts.training) {
        for (const f of step.frees) {
          const v = values.get(f);
          if (v && !Object.values(feeds).includes(v.t)) v.t.dispose();
          values.delete(f);
        }
      }
    }
    const result: Record<string, tf.Tensor> = {};
    for (const name of opts.outputs ?? this.graph.outputs.map((o) => o.name)) {
      const v = lookup(name);
      if (!v) throw new InvalidModelError(`output '${name}' is not computed by the graph`);
      result[name] = toLogical(v);
    }
    return result;
  }

  /** The steps needed for `outputs` (all steps for the graph's outputs). */
  private plan(outputs: string[] | undefined): Step[] {
    if (!outputs) return this.steps;
    const key = outputs.join('\u0000');
    let plan = this.plans.get(key);
    if (!plan) {
      const producer = new Map<string, Step>();
      for (const s of this.steps) for (const o of s.node.outputs) producer.set(o, s);
      const needed = new Set<Step>();
      const stack = outputs.map((o) => producer.get(o)).filter((s): s is Step => !!s);
      while (stack.length) {
        const s = stack.pop()!;
        if (needed.has(s)) continue;
        needed.add(s);
        for (const i of s.node.inputs) {
          const p = producer.get(i);
          if (p && !needed.has(p)) stack.push(p);
        }
      }
      // Values the full plan frees may be requested outputs here: free only what is not asked for.
      const asked = new Set(outputs);
      plan = this.steps.filter((s) => needed.has(s)).map((s) => ({ ...s, frees: s.frees.filter((f) => !asked.has(f)) }));
      this.plans.set(key, plan);
    }
    return plan;
  }

  private readNumbers(name: string, v: RtValue | undefined): number[] | undefined {
    if (!name || !v) return undefined;
    const ct = this.graph.initializers.get(name);
    if (ct) return constInts(ct);
    return Array.from(toLogical(v).dataSync());
  }

  dispose(): void {
    for (const t of this.params.values()) if (!(t instanceof tf.Variable)) t.dispose();
    this.params.clear();
  }
}

function checkFeedShape(name: string, want: (number | string | null)[] | undefined, got: number[]): void {
  if (!want) return;
  const bad = want.length !== got.length || want.some((d, i) => typeof d === 'number' && d > 0 && d !== got[i]);
  if (bad) {
    const fmt = (s: readonly (number | string | null)[]) => `[${s.map((d) => d ?? '?').join(', ')}]`;
    throw new InvalidDataError(`input '${name}' expects shape ${fmt(want)}, the data has ${fmt(got)}`, {
      action: 'give data of the shape the model was exported for (check --data, and the model with `pg inspect`)',
    });
  }
}

/**
 * The activation a Conv can run in its own kernel: its output is read only by one Relu, or one Clip with
 * constant bounds 0 and 6 (ReLU6), and is not a graph output; the conv is 2-D with a constant weight.
 */
function fusableActivation(node: Node, graph: Graph, readers: Map<string, Node[]>, keep: Set<string>, opset: number): Step['fusable'] {
  if (node.opType !== 'Conv' || normaliseDomain(node.domain) !== '' || keep.has(node.outputs[0])) return undefined;
  if (graph.initializers.get(node.inputs[1])?.dims.length !== 4) return undefined;
  const users = readers.get(node.outputs[0]) ?? [];
  if (users.length !== 1 || normaliseDomain(users[0].domain) !== '') return undefined;
  const next = users[0];
  if (next.opType === 'Relu') return { activation: 'relu', node: next };
  if (next.opType !== 'Clip' || next.inputs[0] !== node.outputs[0]) return undefined;
  const bound = (attr: string, input: number): number | undefined => {
    if (opset < 11) {
      const a = next.attributes[attr];
      return a && (a.type === 'float' || a.type === 'int') ? a.value : undefined;
    }
    const t = next.inputs[input] ? graph.initializers.get(next.inputs[input]) : undefined;
    return t && t.dims.reduce((a, b) => a * b, 1) === 1 ? Number((t.data() as ArrayLike<number>)[0]) : undefined;
  };
  return bound('min', 1) === 0 && bound('max', 2) === 6 ? { activation: 'relu6', node: next } : undefined;
}
