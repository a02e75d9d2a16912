import * as tf from '@tensorflow/tfjs-core';
import type { Model } from '../../graph/index.js';
import { constTensor } from '../../graph/index.js';
import { Executor } from '../../interpreter/executor.js';
import { opRegistry } from '../../gating/index.js';
import type { PgLayer } from '../../gating/index.js';
import { COST_OPS } from '../../metrics/index.js';
import { isRecurrentLayer } from '../../graph/index.js';
import type { TensorValues } from '../checkpoint.js';

/**
 * Which tensors train, as tfjs variables in an executor of the model: the gated layers' thresholds and the
 * static activation scales (the gate's Adam), and with trainWeights the weights and biases (their own Adam).
 * The order (thresholds, scales, then weights in node order) is the order of the gradient buffers, of the
 * optimizers' updates and of checkpoints.
 */
export class TrainableSet {
  readonly exec: Executor;
  /** Thresholds and activation scales, by initializer name. */
  readonly gate = new Map<string, tf.Variable>();
  readonly weights = new Map<string, tf.Variable>();
  /** The gated layers' threshold variables, in layer order (the penalty's). */
  readonly thresholds: tf.Variable[];

  constructor(
    model: Model,
    private readonly layers: PgLayer[],
    trainWeights: boolean,
  ) {
    this.exec = new Executor(model, { registry: opRegistry });
    const gated = layers.filter((l) => l.gated);
    for (const l of gated) this.add(l.threshold!, this.gate);
    for (const l of layers) if (!l.dynamic) this.add(l.actScale, this.gate);
    if (trainWeights) {
      for (const n of this.exec.graph.nodes) {
        // The layers priced by MACs are those with a weight and bias (inputs 1 and 2; a recurrent layer's W, R, B: 1 to 3).
        if (!COST_OPS.has(n.opType)) continue;
        for (const i of n.inputs.slice(1, isRecurrentLayer(n) ? 4 : 3)) if (i && this.exec.graph.initializers.has(i)) this.add(i, this.weights);
      }
    }
    this.thresholds = gated.map((l) => this.gate.get(l.threshold!)!);
  }

  /** Initializer names of the trained tensors, in order. */
  get names(): string[] {
    return [...this.gate.keys(), ...this.weights.keys()];
  }

  get variables(): tf.Variable[] {
    return [...this.gate.values(), ...this.weights.values()];
  }

  /** A copy of every trained tensor's current value, by initializer name. */
  values(): Map<string, TensorValues> {
    const names = this.names;
    return new Map(this.variables.map((v, i) => [names[i], { dims: v.shape.slice(), values: Float32Array.from(v.dataSync() as Float32Array) }]));
  }

  /** Scales stay positive whatever a step does. */
  clampScales(): void {
    tf.tidy(() => {
      for (const l of this.layers) if (!l.dynamic) this.gate.get(l.actScale)!.assign(tf.maximum(this.gate.get(l.actScale)!, 1e-6));
    });
  }

  /** Sets the thresholds to those of `model` (a copy of this one with other thresholds). */
  assignThresholds(model: Model): void {
    for (const l of this.layers) {
      if (!l.gated) continue;
      const t = model.graph.initializers.get(l.threshold!)!;
      tf.tidy(() => this.gate.get(l.threshold!)!.assign(tf.tensor(t.data() as Float32Array, t.dims, 'float32')));
    }
  }

  dispose(): void {
    for (const v of this.variables) v.dispose();
    this.exec.dispose();
  }

  private add(name: string, into: Map<string, tf.Variable>): void {
    if (into.has(name) || this.gate.has(name) || this.weights.has(name)) return;
    const v = tf.variable(this.exec.param(name)!, true, `pg${++session}/${name}`);
    this.exec.setParam(name, v);
    into.set(name, v);
  }
}

/** Variable names must be unique per process; several fine-tunes may run in one (tests, sweeps). */
let session = 0;

/** `model` with these float32 tensors in place of its initializers of the same names (the rest shared). */
export function withTensorValues(model: Model, params: Map<string, TensorValues>): Model {
  const initializers = new Map(model.graph.initializers);
  for (const [name, t] of params) initializers.set(name, constTensor(name, 'float32', t.dims.slice(), t.values));
  return { ...model, graph: { ...model.graph, initializers } };
}
