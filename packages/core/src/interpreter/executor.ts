import * as tf from '@tensorflow/tfjs-core';
import type { Graph, Model, Node } from '../graph/index.js';
import { topologicalOrder } from '../graph/topo.js';
import { inlineFunctions } from '../graph/passes/inline-functions.js';
import { InvalidDataError, InvalidModelError, UnsupportedModelError } from '../errors/index.js';
import type { FusedTail, KernelContext, KernelSettings, Observer } from './kernel.js';
import { formatRange, normaliseDomain, type OpRegistry, type RegisteredOp } from './registry.js';
import { constInts, toTfTensor } from './tensor-convert.js';
import { channelShuffleNhwc, shuffleGroups, shufflePattern, type ShufflePattern } from './channel-shuffle.js';
import { attrInt } from './attributes.js';
import { FoldCache, planFolding, shapeVector, type FoldedOutputs, type FoldRole } from './shape-folding.js';
import { logicalShape, nhwc, plain, toLogical, type RtValue } from './value.js';
import { writtenOp, type WrittenOp } from './written-ops.js';
import { layerNormalize } from './ops/normalization.js';
import { geluErf } from './ops/elementwise.js';

export interface ExecutorOptions {
  /**
   * The ops it runs: pg's (`opRegistry`, gating/op-registry.ts) for gated models; a registry of the interpreter's
   * ops alone runs pg's layers through their ONNX function bodies. Required, so no caller gets one by chance.
   */
  registry: OpRegistry;
  /** Cache shape arithmetic per input shape (default true; false runs every node each time, for comparison). */
  foldShapes?: boolean;
  /**
   * While training, run the Relu (and residual Add) after an op that declares it can (OpDeclaration.tail) inside
   * that op's kernel (default true; false runs them as their own nodes, for comparison: the same bits).
   */
  fuseTails?: boolean;
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
  /** Position in execution order (the fold cache's node key). */
  index: number;
  node: Node;
  entry: RegisteredOp;
  opset: number;
  /** Values whose last reader is this step, freed after it when not training. */
  frees: string[];
  /** A Relu / ReLU6 that reads only this Conv's output: run inside the conv outside training. */
  fusable?: { activation: 'relu' | 'relu6'; node: Node };
  /** While training: the nodes after this one its kernel runs (OpDeclaration.tail), and the last one's output. */
  tail?: { kind: FusedTail; nodes: Node[]; output: string };
  /** A channel shuffle (Reshape, Transpose, Reshape) starting at this Reshape: run as one NHWC transpose. */
  shuffle?: ShufflePattern;
  /** Set for shape arithmetic, which runs once per shape and is cached (see shape-folding.ts). */
  fold?: FoldRole;
  /** An op written out as several nodes (LayerNorm, GELU), first node here: run as the one kernel (written-ops.ts). */
  written?: WrittenOp;
}

/** The shapes the Shape nodes of one run saw, by their output names (the fold cache keys). */
type SeenShapes = Map<string, number[]>;

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
  private readonly folds = new FoldCache();
  /** For each output of a folded or Shape node: its step and output position. */
  private readonly foldedAt = new Map<string, { step: Step; k: number }>();

  constructor(
    readonly model: Model,
    opts: ExecutorOptions,
  ) {
    const { registry } = opts;
    const where = model.sourcePath ?? 'the model';
    // Custom ops without a kernel run through their model-local function, as in ONNX Runtime.
    this.graph = inlineFunctions(model, (n) => !registry.has(n.domain, n.opType));
    const order = topologicalOrder(this.graph, where);
    const opsets = new Map(model.opsetImports.map((o) => [normaliseDomain(o.domain), o.version]));
    const readers = new Map<string, Node[]>();
    for (const n of order) for (const v of new Set(n.inputs)) if (v) readers.set(v, [...(readers.get(v) ?? []), n]);
    const lastUse = new Map<string, number>();
    order.forEach((n, i) => n.inputs.forEach((v) => v && lastUse.set(v, i)));
    const keep = new Set([...this.graph.outputs.map((o) => o.name), ...this.graph.initializers.keys()]);
    const roles = opts.foldShapes === false ? new Map<number, FoldRole>() : planFolding(this.graph, order);
    this.steps = order.map((node, i) => {
      const domain = normaliseDomain(node.domain);
      const opset = opsets.get(domain) ?? 1;
      const entry = registry.find(domain, node.opType, opset);
      if (!entry) throw unsupportedNode(registry, where, node, domain, opset);
      const frees = node.inputs.filter((v, k) => v && lastUse.get(v) === i && !keep.has(v) && node.inputs.indexOf(v) === k);
      return {
        index: i,
        node,
        entry,
        opset,
        frees,
        fusable: fusableActivation(node, this.graph, readers, keep, opsets.get('') ?? 1),
        tail: opts.fuseTails === false ? undefined : fusableTail(node, entry, readers, keep),
        shuffle: shufflePattern(node, readers, keep),
        fold: roles.get(i),
      };
    });
    for (const step of this.steps) if (step.fold) step.node.outputs.forEach((o, k) => o && this.foldedAt.set(o, { step, k }));
    const producers = new Map(order.flatMap((n) => n.outputs.filter(Boolean).map((o) => [o, n] as const)));
    const position = new Map(order.map((n, i) => [n, i]));
    const written = { graph: this.graph, readers, producers, keep };
    for (const step of this.steps) {
      const op = writtenOp(step.node, written);
      // Kept at the pattern's first node in execution order: the inputs are computed by then.
      if (op) this.steps[Math.min(...op.nodes.map((n) => position.get(n)!))].written = op;
    }
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

  // eslint-disable-next-line max-lines-per-function -- the step loop and the closures it shares (values, shapes, lookup, free) are one piece of state.
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
    const shapes: SeenShapes = new Map();
    const lookup = (name: string): RtValue | undefined => {
      if (!name) return undefined;
      const v = values.get(name);
      if (v) return v;
      if (this.foldedAt.has(name)) return this.foldedValue(name, shapes, opts);
      const p = this.param(name);
      return p ? plain(p) : undefined;
    };
    /** Whether `name` can be read now without computing anything out of order. */
    const ready = (name: string): boolean => {
      const folded = this.foldedAt.get(name);
      return values.has(name) || this.graph.initializers.has(name) || (!!folded && folded.step.fold!.sources.every((s) => shapes.has(s)));
    };
    const feedTensors = new Set(Object.values(feeds));
    const free = (step: Step) => {
      for (const f of step.frees) {
        const v = values.get(f);
        if (v && !feedTensors.has(v.t) && !this.folds.owns(v.t)) v.t.dispose();
        values.delete(f);
      }
    };
    const asked = new Set(opts.outputs ?? []);
    const fusedInto = new Set<Node>();
    // While training: the values no trained variable flows into (the feeds, constants, what only they compute).
    const constant = new Set<string>(opts.training ? this.graph.inputs.map((i) => i.name).filter((n) => !this.graph.initializers.has(n)) : []);
    const isConstant = (name: string): boolean => !name || constant.has(name) || (this.graph.initializers.has(name) && !(this.param(name) instanceof tf.Variable));
    for (const step of this.plan(opts.outputs)) {
      const { node } = step;
      if (fusedInto.has(node)) {
        if (!opts.training) free(step);
        continue;
      }
      if (step.fold) {
        // Shape arithmetic is computed when a kernel reads it (cached per shape); a Shape node only notes
        // its input's shape here.
        if (step.fold.kind === 'source') {
          const x = lookup(node.inputs[0]);
          if (!x) throw new InvalidModelError(`node '${node.name}' (Shape) reads '${node.inputs[0]}', which is not computed before it`);
          shapes.set(node.outputs[0], shapeVector(node, logicalShape(x)));
        }
        if (!opts.training) free(step);
        continue;
      }
      const whole = step.written ? this.runWritten(step.written, lookup, asked, opts) : undefined;
      if (whole) {
        values.set(step.written!.output, whole);
        step.written!.nodes.forEach((n) => n !== node && fusedInto.add(n));
        if (!opts.training) free(step);
        continue;
      }
      const shuffled = step.shuffle && !opts.training ? this.shuffle(step, step.shuffle, lookup, ready, asked, shapes, opts) : undefined;
      if (shuffled) {
        values.set(step.shuffle!.reshape.outputs[0], shuffled);
        fusedInto.add(step.shuffle!.transpose).add(step.shuffle!.reshape);
        free(step);
        continue;
      }
      // Conv + Relu in one kernel when nobody asks for the conv's own output and no tape records.
      const fuse = !opts.training && step.fusable && !asked.has(node.outputs[0]) ? step.fusable : undefined;
      // While training, a gated conv's Relu (and residual Add) in its kernel, unless a value between is asked for.
      const tail = opts.training && step.tail && ![node, ...step.tail.nodes.slice(0, -1)].some((n) => asked.has(n.outputs[0])) ? step.tail : undefined;
      const inputs = node.inputs.map(lookup);
      const outs = this.callKernel(step, inputs, shapes, opts, fuse?.activation, isConstant, tail?.kind);
      if (opts.training && node.inputs.every(isConstant)) [...node.outputs, tail?.output].forEach((o) => o && constant.add(o));
      if (fuse) {
        values.set(fuse.node.outputs[0], outs[0]);
        fusedInto.add(fuse.node);
      } else if (tail) {
        values.set(tail.output, outs[0]);
        tail.nodes.forEach((n) => fusedInto.add(n));
      } else {
        node.outputs.forEach((o, k) => o && outs[k] && values.set(o, outs[k]));
      }
      if (!opts.training) free(step);
    }
    const result: Record<string, tf.Tensor> = {};
    for (const name of opts.outputs ?? this.graph.outputs.map((o) => o.name)) {
      const v = lookup(name);
      if (!v) throw new InvalidModelError(`output '${name}' is not computed by the graph`);
      const t = toLogical(v);
      // The caller owns what it gets: never hand out a cached tensor itself.
      result[name] = this.folds.owns(t) ? tf.clone(t) : t;
    }
    return result;
  }

  /** A channel shuffle of an NHWC value as one transpose, when the Reshape targets make it exactly one. */
  private shuffle(
    step: Step,
    p: ShufflePattern,
    lookup: (n: string) => RtValue | undefined,
    ready: (n: string) => boolean,
    asked: Set<string>,
    shapes: SeenShapes,
    opts: RunOptions,
  ): RtValue | undefined {
    const { node } = step;
    if (step.opset < 5 || asked.has(node.outputs[0]) || asked.has(p.transpose.outputs[0])) return undefined;
    const x = lookup(node.inputs[0]);
    if (!x?.nhwc || !ready(node.inputs[1]) || !ready(p.reshape.inputs[1])) return undefined;
    const target = (n: Node) => this.readNumbers(n.inputs[1], lookup(n.inputs[1]), shapes, opts);
    const allowZero = (n: Node) => attrInt(n, 'allowzero', 0) === 1;
    const groups = shuffleGroups(x, target(node), target(p.reshape), [allowZero(node), allowZero(p.reshape)]);
    return groups === undefined ? undefined : nhwc(channelShuffleNhwc(x.t, groups));
  }

  /** A written-out op as its kernel, unless one of its inner values is asked for or its axes are not the last ones. */
  private runWritten(op: WrittenOp, lookup: (n: string) => RtValue | undefined, asked: Set<string>, opts: RunOptions): RtValue | undefined {
    if (op.nodes.some((n) => n.outputs.some((o) => o !== op.output && asked.has(o)))) return undefined;
    const x = lookup(op.input);
    if (!x) return undefined;
    const compute = (): RtValue | undefined => {
      if (op.kind === 'gelu') return { t: geluErf(x.t), nhwc: x.nhwc };
      const t = toLogical(x);
      const axes = [...new Set(op.axes.map((a) => (a < 0 ? a + t.rank : a)))].sort((a, b) => a - b);
      if (axes[axes.length - 1] !== t.rank - 1 || axes.some((a, i) => a !== axes[0] + i)) return undefined;
      return plain(layerNormalize(t, lookup(op.scale)!.t, lookup(op.bias)!.t, axes[0], op.epsilon));
    };
    if (opts.training) return compute();
    let out: RtValue | undefined;
    tf.tidy(() => {
      out = compute();
      return out ? [out.t] : [];
    });
    return out;
  }

  private callKernel(
    step: Step,
    inputs: (RtValue | undefined)[],
    shapes: SeenShapes,
    opts: RunOptions,
    activation?: 'relu' | 'relu6',
    isConstant?: (name: string) => boolean,
    tail?: FusedTail,
  ): RtValue[] {
    const { node } = step;
    const ctx: KernelContext = {
      node,
      opset: step.opset,
      activation,
      tail,
      training: opts.training ?? false,
      needsGradient: (i) => !(opts.training && isConstant?.(node.inputs[i] ?? '')),
      observer: opts.observer,
      settings: opts.settings ?? {},
      readInts: (i) => this.readNumbers(node.inputs[i], inputs[i], shapes, opts),
      readFloats: (i) => this.readNumbers(node.inputs[i], inputs[i], shapes, opts),
    };
    try {
      // A kernel's temporaries (layout transposes, quantizer parts, index arithmetic) are freed when it returns,
      // observed runs included (an observer keeps what it needs: Observer.observe), else a calibration's run up
      // to a deep layer holds every earlier layer's temporaries at once. Not while a tape records (the backward
      // pass needs them).
      if (opts.training) return step.entry.kernel(inputs, ctx);
      let outs: RtValue[] = [];
      tf.tidy(() => {
        outs = step.entry.kernel(inputs, ctx);
        return outs.flatMap((o) => (o ? [o.t] : []));
      });
      return outs;
    } catch (e) {
      if (e instanceof InvalidModelError || e instanceof UnsupportedModelError || e instanceof InvalidDataError) throw e;
      throw new UnsupportedModelError(`node '${node.name}' (${node.opType}) failed: ${(e as Error).message}`, {
        action: 'check the input shapes; if the model runs in ONNX Runtime, this is a pg bug: please report it with the model',
        cause: e,
      });
    }
  }

  /** The cache entry holding folded value `name` for the shapes seen in this run, computed on a miss. */
  private foldedEntry(name: string, shapes: SeenShapes, opts: RunOptions): { entry: FoldedOutputs; k: number } {
    const { step, k } = this.foldedAt.get(name)!;
    const fold = step.fold!;
    const key = fold.sources
      .map((s) => {
        const seen = shapes.get(s);
        if (!seen) throw new InvalidModelError(`'${name}' depends on '${s}', which is not computed before it`);
        return seen.join(',');
      })
      .join(';');
    let entry = this.folds.get(step.index, key);
    if (!entry) {
      let outs: RtValue[];
      if (fold.kind === 'source') {
        outs = [plain(tf.tensor1d(shapes.get(step.node.outputs[0])!, 'int32'))];
      } else {
        const inputs = step.node.inputs.map((v) => (!v ? undefined : this.foldedAt.has(v) ? this.foldedValue(v, shapes, opts) : this.paramValue(v)));
        tf.tidy(() => {
          outs = this.callKernel(step, inputs, shapes, opts);
          return outs.flatMap((o) => (o ? [o.t] : []));
        });
        // A kernel may hand back an input (Identity): cache a copy, each entry owns its tensors.
        outs = outs!.map((o) => (inputs.some((x) => x?.t === o.t) ? { t: tf.clone(o.t), nhwc: o.nhwc } : o));
      }
      entry = this.folds.set(step.index, key, outs);
    }
    return { entry, k };
  }

  private foldedValue(name: string, shapes: SeenShapes, opts: RunOptions): RtValue {
    const { entry, k } = this.foldedEntry(name, shapes, opts);
    return entry.values[k];
  }

  private paramValue(name: string): RtValue {
    const p = this.param(name);
    if (!p) throw new InvalidModelError(`'${name}' is neither computed by the graph nor an initializer`);
    return plain(p);
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

  private readNumbers(name: string, v: RtValue | undefined, shapes: SeenShapes, opts: RunOptions): number[] | undefined {
    if (!name || !v) return undefined;
    const ct = this.graph.initializers.get(name);
    if (ct) return constInts(ct);
    if (this.foldedAt.has(name)) {
      const { entry, k } = this.foldedEntry(name, shapes, opts);
      return (entry.numbers[k] ??= Array.from(toLogical(entry.values[k]).dataSync()));
    }
    return Array.from(toLogical(v).dataSync());
  }

  /** Cached shape-arithmetic entries (for tests and diagnostics). */
  get foldedEntries(): number {
    return this.folds.size;
  }

  dispose(): void {
    this.folds.dispose();
    for (const t of this.params.values()) if (!(t instanceof tf.Variable)) t.dispose();
    this.params.clear();
  }
}

/** Why `registry` cannot run `node` at `opset`: no kernel for its op, or none for that opset. */
function unsupportedNode(registry: OpRegistry, where: string, node: Node, domain: string, opset: number): UnsupportedModelError {
  const range = registry.opsetRange(domain, node.opType);
  if (!range) {
    return new UnsupportedModelError(`${where}: node '${node.name}' uses op '${domain ? domain + '.' : ''}${node.opType}', which pg cannot run`, {
      action: `pg supports: ${registry.ops('').join(', ')}. Remove or replace the op (or open an issue asking for it)`,
    });
  }
  return new UnsupportedModelError(`${where}: node '${node.name}' (${node.opType}) at opset ${opset} is outside what pg supports (${formatRange(range)})`, {
    action: 're-export the model with a supported opset',
  });
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
/**
 * The nodes after `node` its op's kernel can run while training (OpDeclaration.tail): its output read by one Relu
 * alone (`relu`), or by one Add alone whose other operand is the op's offset input and whose output one Relu alone
 * reads (`add-relu`); none of these values a graph output but the Relu's.
 */
function fusableTail(node: Node, entry: RegisteredOp, readers: Map<string, Node[]>, keep: Set<string>): Step['tail'] {
  const declared = entry.tail;
  const out = node.outputs[0];
  if (!declared || !out || keep.has(out)) return undefined;
  const onlyReader = (value: string, opType: string): Node | undefined => {
    const users = readers.get(value) ?? [];
    return users.length === 1 && users[0].opType === opType && normaliseDomain(users[0].domain) === '' ? users[0] : undefined;
  };
  let last = out;
  const nodes: Node[] = [];
  if (declared.kind === 'add-relu') {
    const add = onlyReader(out, 'Add');
    const offset = node.inputs[declared.offsetInput];
    const operands = add?.inputs ?? [];
    if (!add || !offset || offset === out || operands.length !== 2 || !operands.includes(out) || !operands.includes(offset) || keep.has(add.outputs[0])) return undefined;
    nodes.push(add);
    last = add.outputs[0];
  }
  const relu = onlyReader(last, 'Relu');
  if (!relu || relu.inputs[0] !== last) return undefined;
  nodes.push(relu);
  return { kind: declared.kind, nodes, output: relu.outputs[0] };
}

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
