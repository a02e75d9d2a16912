import * as tf from '@tensorflow/tfjs-core';
import type { FinetuneCheckpoint } from '../checkpoint.js';
import { nativeAdamStep } from '../native-adam.js';
import type { FinetuneOptions } from '../options.js';
import { readAdamState, restoreAdamState, setLearningRate } from '../tfjs-adam.js';
import { lrFactor } from './lr-schedule.js';
import type { FinetunePlan } from './plan.js';
import type { TrainableSet } from './trainable.js';

/**
 * The two Adams of a fine-tune: one for the thresholds and scales (opts.lr), one for the weights
 * (opts.weightLr, when they are updated), both following the learning-rate schedule.
 */
export class FinetuneOptimizers {
  readonly gate: tf.AdamOptimizer;
  readonly weights: tf.AdamOptimizer | undefined;

  constructor(
    private readonly opts: FinetuneOptions,
    plan: FinetunePlan,
  ) {
    this.gate = tf.train.adam(opts.lr);
    this.weights = plan.updateWeights ? tf.train.adam(opts.weightLr) : undefined;
  }

  /** Updates the trainable set with a step's summed gradients (by variable name), at the rates of `step` of `totalSteps`. */
  apply(set: TrainableSet, grads: Record<string, Float32Array>, step: number, totalSteps: number): void {
    const factor = lrFactor(this.opts.lrSchedule, step, totalSteps);
    setLearningRate(this.gate, this.opts.lr * factor);
    if (this.weights) setLearningRate(this.weights, this.opts.weightLr * factor);
    tf.tidy(() => {
      const pick = (vars: Map<string, tf.Variable>) => [...vars.values()].map((v) => ({ name: v.name, tensor: tf.tensor(grads[v.name], v.shape, 'float32') }));
      this.gate.applyGradients(pick(set.gate));
      // The weights' Adam (most of the parameters) in one native pass when the addon is on: the same bits.
      if (
        this.weights &&
        !nativeAdamStep(
          this.weights,
          [...set.weights.values()].map((v) => ({ variable: v, grad: grads[v.name] })),
        )
      )
        this.weights.applyGradients(pick(set.weights));
    });
    set.clampScales();
  }

  /** Both optimizers' state, for a checkpoint. */
  async state(set: TrainableSet): Promise<FinetuneCheckpoint['optimizers']> {
    return { gate: await readAdamState(this.gate, set.gate), weights: this.weights ? await readAdamState(this.weights, set.weights) : null };
  }

  /** Puts both optimizers back in the state a checkpoint saved. */
  async restore(saved: FinetuneCheckpoint['optimizers'], set: TrainableSet): Promise<void> {
    await restoreAdamState(this.gate, saved.gate, set.gate);
    if (this.weights && saved.weights) await restoreAdamState(this.weights, saved.weights, set.weights);
  }

  dispose(): void {
    this.gate.dispose();
    this.weights?.dispose();
  }
}
