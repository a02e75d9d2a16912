import * as tf from '@tensorflow/tfjs-core';
import type { Executor } from '../../interpreter/executor.js';
import type { KernelSettings, Observer } from '../../interpreter/kernel.js';
import { OBSERVE, releaseFusedState } from '../../gating/index.js';

/** What defines a step's loss, the same in the main thread and in every worker. */
export interface LossSpec {
  inputName: string;
  outputName: string;
  numClasses: number;
  /** Labels per sample: 1, or T for a language model's next token at each of its T steps (absent: 1). */
  labelsPerSample?: number;
  /** σ of the threshold penalty σ Σ ||Δ - δ||. */
  penalty: number;
  gateTarget: number;
  /** 1 - S of the sparsity budget, when there is one. */
  budget?: number;
  sparsityWeight: number;
  settings: KernelSettings;
}

/** The model being trained, as one thread sees it: its executor and variables, in a fixed order. */
export interface ShardModel {
  exec: Executor;
  /** The trained variables, in the order of the gradient buffers. */
  vars: tf.Variable[];
  /** The gated layers' threshold variables (the penalty's). */
  thresholds: tf.Variable[];
  /** The float model, for distillation. */
  teacher?: Executor;
}

export interface ShardResult {
  /** This shard's share of the step's loss. */
  loss: number;
  /** Gated outputs that took the update, and all gated outputs, in this shard. */
  gateOn: number;
  gateTotal: number;
}

/**
 * Loss and gradients of one micro-shard, gradients written to `out` (the variables' values back to back,
 * in `vars` order). The step's loss is the sum over its shards of
 *   (n_k / B) · [CE_k + KL_k + w Σ_layers relu(u_k,l - (1 - S))²]  (+ σ Σ ||Δ - δ|| in shard 0 only),
 * CE_k the shard's mean cross-entropy and u_k,l layer l's update fraction within the shard: the
 * cross-entropy is then exactly the batch mean; the sparsity budget is applied per shard.
 */
export function shardGradients(
  m: ShardModel,
  spec: LossSpec,
  x: Float32Array,
  shape: number[],
  labels: Int32Array,
  weight: number,
  withPenalty: boolean,
  out: Float32Array,
): ShardResult {
  return tf.tidy(() => {
    const xt = tf.tensor(x, shape, 'float32');
    const y = tf.oneHot(tf.tensor1d(labels, 'int32'), spec.numClasses);
    // The float model's predictions, for distillation: computed outside the tape (no gradient).
    // Logits as rows of classes: [N, C], or [N·T, C] for a language model's [N, T, C].
    const rows = (t: tf.Tensor) => (t.rank === 2 ? t : tf.reshape(t, [-1, spec.numClasses]));
    const soft = m.teacher ? tf.softmax(rows(m.teacher.run({ [spec.inputName]: xt }, { outputs: [spec.outputName] })[spec.outputName])) : undefined;
    const fractions: tf.Tensor[] = [];
    const counts: tf.Tensor[] = [];
    const budget = spec.budget !== undefined && spec.sparsityWeight > 0;
    const observer: Observer = {
      // The update fractions only when the budget reads them: their gradient reaches the gates.
      wants: (_n, key) => key === OBSERVE.gateCounts || (budget && key === OBSERVE.updateFraction),
      observe: (_node, key, t) => {
        if (key === OBSERVE.updateFraction) fractions.push(t);
        // variableGrads disposes what its function made; the counts are read after it, so keep them.
        else counts.push(tf.keep(t));
      },
    };
    const { value, grads } = tf.variableGrads(() => {
      fractions.length = 0;
      const logits = rows(m.exec.run({ [spec.inputName]: xt }, { outputs: [spec.outputName], observer, training: true, settings: spec.settings })[spec.outputName]);
      let total = tf.losses.softmaxCrossEntropy(y, logits) as tf.Scalar;
      // KL(teacher || student) = CE(teacher, student) - H(teacher); the entropy has no gradient.
      if (soft) total = tf.add(total, tf.losses.softmaxCrossEntropy(soft, logits)) as tf.Scalar;
      // The sparsity budget: w * relu(u - (1 - S))^2 per layer, u its (hard) update fraction, whose
      // gradient is the gate's sigmoid surrogate; over all layers at once (a handful of ops, not a handful per layer).
      if (budget && fractions.length) {
        const terms = tf.mul(spec.sparsityWeight, tf.square(tf.relu(tf.sub(tf.stack(fractions), spec.budget!))));
        total = tf.add(total, tf.sum(terms)) as tf.Scalar;
      }
      total = tf.mul(total, weight) as tf.Scalar;
      if (withPenalty && spec.penalty > 0) {
        for (const v of m.thresholds) total = tf.add(total, tf.mul(spec.penalty, l2Norm(tf.sub(v, spec.gateTarget)))) as tf.Scalar;
      }
      return total;
    }, m.vars);
    releaseFusedState();
    let offset = 0;
    for (const v of m.vars) {
      const g = grads[v.name];
      if (g) out.set(g.dataSync() as Float32Array, offset);
      else out.fill(0, offset, offset + v.size);
      offset += v.size;
    }
    const c = counts.length ? tf.sum(tf.stack(counts), 0).dataSync() : [0, 0];
    counts.forEach((t) => t.dispose());
    return { loss: value.dataSync()[0], gateOn: c[0], gateTotal: c[1] };
  });
}

/** ||v||₂ with a gradient at 0 (tf.norm's is 0/0 there, and thresholds start at 0). */
function l2Norm(v: tf.Tensor): tf.Tensor {
  return tf.sqrt(tf.add(tf.sum(tf.square(v)), 1e-12));
}
