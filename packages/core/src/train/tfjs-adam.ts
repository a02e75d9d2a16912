import * as tf from '@tensorflow/tfjs-core';
import { UsageError } from '../errors/index.js';

/**
 * tfjs's AdamOptimizer keeps its state in fields its typings mark protected or private (tfjs-core 4.x). This
 * file is the one place that reaches into them: checkpoints read and restore that state, the native step
 * (native-adam.ts) updates it in place, the learning-rate schedule changes the rate.
 */
interface AdamInternals {
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  /** β₁^(t+1), β₂^(t+1): products of float32 multiplies, one per step (getWeights does not return them). */
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
  /** Per variable, in the order applyGradients was given them; created on a variable's first step. */
  accumulatedFirstMoment: (AdamMoment | undefined)[];
  accumulatedSecondMoment: (AdamMoment | undefined)[];
  incrementIterations(): void;
}

interface AdamMoment {
  originalName: string;
  variable: tf.Variable;
}

function internals(opt: tf.AdamOptimizer): AdamInternals {
  return opt as unknown as AdamInternals;
}

/** What tfjs's Adam keeps between steps, for the parameters `names` in the order they are updated. */
export interface AdamState {
  names: string[];
  iterations: number;
  /** β₁^(t+1) and β₂^(t+1) as Adam holds them (products of float32 multiplies, not a pow). */
  accBeta1: number;
  accBeta2: number;
  /** First and second moments, aligned with `names` (empty before the first step). */
  m: Float32Array[];
  v: Float32Array[];
}

/** Adam's state for the parameters in `vars`, in the order they are handed to applyGradients. */
export async function readAdamState(opt: tf.AdamOptimizer, vars: Map<string, tf.Variable>): Promise<AdamState> {
  const weights = await opt.getWeights();
  const iterations = (await weights[0].tensor.data())[0];
  weights[0].tensor.dispose();
  const moments = weights.slice(1).map((w) => Float32Array.from(w.tensor.dataSync() as Float32Array));
  const a = internals(opt);
  return {
    names: [...vars.keys()],
    iterations,
    accBeta1: a.accBeta1.dataSync()[0],
    accBeta2: a.accBeta2.dataSync()[0],
    m: moments.slice(0, moments.length / 2),
    v: moments.slice(moments.length / 2),
  };
}

/**
 * Puts Adam back in `state`. setWeights recomputes β^(t+1) with pow, which can differ in the last bit from
 * the product Adam accumulates step by step; the saved products are restored over it to stay bit-identical.
 */
export async function restoreAdamState(opt: tf.AdamOptimizer, state: AdamState, vars: Map<string, tf.Variable>): Promise<void> {
  const names = [...vars.keys()];
  if (JSON.stringify(names) !== JSON.stringify(state.names)) {
    throw new UsageError('The checkpoint trains other tensors than this run would.', { action: 'Resume with the model and flags of the interrupted run.' });
  }
  const tensors = [
    ...state.m.map((m, i) => ({ name: `${vars.get(names[i])!.name}/m`, tensor: tf.tensor(m, vars.get(names[i])!.shape, 'float32') })),
    ...state.v.map((v, i) => ({ name: `${vars.get(names[i])!.name}/v`, tensor: tf.tensor(v, vars.get(names[i])!.shape, 'float32') })),
  ];
  await opt.setWeights([{ name: 'iter', tensor: tf.scalar(state.iterations, 'int32') }, ...tensors]);
  const a = internals(opt);
  tf.tidy(() => {
    a.accBeta1.assign(tf.scalar(state.accBeta1, 'float32'));
    a.accBeta2.assign(tf.scalar(state.accBeta2, 'float32'));
  });
  tensors.forEach((t) => t.tensor.dispose());
}

/** tfjs optimizers take the rate in the constructor only; their state (Adam's moments) must survive a change. */
export function setLearningRate(opt: tf.AdamOptimizer, lr: number): void {
  internals(opt).learningRate = lr;
}

/** The moments of the i-th variable Adam updates, where they exist (tfjs makes them on its first step). */
export function adamMoments(opt: tf.AdamOptimizer, i: number): { m?: tf.Variable; v?: tf.Variable } {
  const a = internals(opt);
  return { m: a.accumulatedFirstMoment[i]?.variable, v: a.accumulatedSecondMoment[i]?.variable };
}

/** The moments of `variable`, the i-th Adam updates, made as tfjs makes them if missing: zeros named `NAME/m`, `NAME/v`. */
export function ensureAdamMoments(opt: tf.AdamOptimizer, i: number, variable: tf.Variable): { m: tf.Variable; v: tf.Variable } {
  const a = internals(opt);
  const make = (list: AdamInternals['accumulatedFirstMoment'], suffix: string) =>
    (list[i] ??= { originalName: `${variable.name}/${suffix}`, variable: tf.tidy(() => tf.zerosLike(variable).variable(false)) }).variable;
  return { m: make(a.accumulatedFirstMoment, 'm'), v: make(a.accumulatedSecondMoment, 'v') };
}

/**
 * The numbers of Adam's next update as the float32 scalars tfjs makes of them: β1, 1-β1, β2, 1-β2, 1-β1^t,
 * 1-β2^t (float32 subtractions of the accumulated products), ε, -lr.
 */
export function adamStepScalars(opt: tf.AdamOptimizer): Float32Array {
  const a = internals(opt);
  const [acc1] = a.accBeta1.dataSync();
  const [acc2] = a.accBeta2.dataSync();
  return Float32Array.of(a.beta1, 1 - a.beta1, a.beta2, 1 - a.beta2, Math.fround(1 - acc1), Math.fround(1 - acc2), a.epsilon, -a.learningRate);
}

/** Ends a step taken outside tfjs as tfjs ends its own: β powers advance by one float32 multiply, the iteration count by one. */
export function advanceAdam(opt: tf.AdamOptimizer): void {
  const a = internals(opt);
  tf.tidy(() => {
    a.accBeta1.assign(tf.mul(a.accBeta1, a.beta1));
    a.accBeta2.assign(tf.mul(a.accBeta2, a.beta2));
  });
  a.incrementIterations();
}
