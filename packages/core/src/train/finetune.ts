import * as tf from '@tensorflow/tfjs-core';
import type { Dataset } from '../data/index.js';
import { holdOut, labelsPerSample } from '../data/index.js';
import type { Model } from '../graph/index.js';
import { constTensor } from '../graph/index.js';
import { InvalidDataError, InvalidModelError, TrainingError, UsageError } from '../errors/index.js';
import { Executor } from '../runtime/executor.js';
import { RUNTIME_SETTINGS } from '../runtime/kernel.js';
import { reportModel } from '../metrics/index.js';
import { META, SETTINGS, actScaleMode, floatTwin, opRegistry, pgLayers } from '../pg/index.js';
import { calibrate } from './calibrate.js';
import { nativeAdamStep } from './native-adam.js';
import { DataParallelGradients, defaultWorkers } from './parallel/data-parallel.js';
import { checkResumable, checkpointOptions, modelFingerprint, type AdamState, type FinetuneCheckpoint, type TensorValues } from './checkpoint.js';
import { bestEvaluation } from './best-evaluation.js';
import type { FinetuneEvaluation, FinetuneOptions, FinetuneProgress, FinetuneResult } from './options.js';
import { resolveTargetSparsity } from './target.js';
import { shiftThresholdsToTarget } from './threshold-shift.js';
import { TRAINING_NATIVE_THREADS, withNativeThreads } from '../runtime/native/threads.js';

export interface FinetuneHooks {
  onProgress?(p: FinetuneProgress): void;
  /** Aborting stops training after the current step; the result holds what was trained so far. */
  signal?: AbortSignal;
  /** Held-out data to evaluate on during training (instead of holding out opts.evalSplit of the training data). */
  evalData?: Dataset;
  onEvaluation?(e: FinetuneEvaluation): void;
  /**
   * Receives the training state every opts.checkpointEvery steps and when training stops before its last
   * step (abort signal or time budget); `writeCheckpoint` saves it, `resume` continues from it.
   */
  onCheckpoint?(c: FinetuneCheckpoint): Promise<void>;
  /** Continue the run this checkpoint came from (same model, data and options), to the result it would have had. */
  resume?: FinetuneCheckpoint;
  /** Where `resume` was read from, for error messages. */
  resumeFrom?: string;
}

export interface FinetuneOutput {
  model: Model;
  result: FinetuneResult;
}

/**
 * Fine-tunes a gated model: calibrates static activation scales (if not yet) and, with a target
 * sparsity, the thresholds; then trains thresholds and static scales (and weights with
 * `trainWeights`) on cross-entropy + σ Σ ||Δ - δ|| + a hinge keeping each layer's update fraction
 * within 1 - S. The gate's forward is the hard step; its backward is the sigmoid surrogate.
 * Optionally evaluates on held-out data as it goes (keeping the best model), stops within a time
 * budget, and hands out checkpoints from which a later call continues bit for bit.
 */
export async function finetune(model: Model, source: Dataset, opts: FinetuneOptions, hooks: FinetuneHooks = {}): Promise<FinetuneOutput> {
  // A fixed native (oneDNN) thread count per thread keeps the result bit-identical whatever --workers is.
  return withNativeThreads(TRAINING_NATIVE_THREADS, () => finetuneRun(model, source, opts, hooks));
}

// eslint-disable-next-line max-lines-per-function -- resume, time budget, keep-best, evaluation and the step loop share its locals; not yet split into named parts.
async function finetuneRun(model: Model, source: Dataset, opts: FinetuneOptions, hooks: FinetuneHooks): Promise<FinetuneOutput> {
  const started = Date.now();
  const layers = pgLayers(model);
  if (!layers.some((l) => l.gated)) {
    throw new UsageError(`${model.sourcePath ?? 'the model'} has no gated layers`, { action: 'run `pg convert` on the float model first' });
  }
  if (!source.hasLabels) {
    throw new InvalidDataError(`${source.name} has no labels; fine-tuning needs them`, { action: 'give labels (--labels y.npy, or y in the .npz)' });
  }
  // Array data (NPY/NPZ) does not know its classes; the model's output does.
  const numClasses = source.numClasses ?? outputClasses(model);
  if (numClasses === undefined) {
    throw new InvalidModelError(`${model.sourcePath ?? 'the model'}: its first output has no fixed last dimension, so the number of classes is unknown`, {
      action: 'export the model with a fixed class dimension on its output (e.g. [N, 10])',
    });
  }
  const target = resolveTargetSparsity(layers, opts);
  if (opts.finalCalibration && target === undefined) {
    throw new UsageError('--final-calibration needs a target to land on.', { action: 'Add --target-sparsity S or --target-bavg B, or leave it out.' });
  }
  const { data, heldOut } = splitData(source, opts, hooks.evalData);
  if (data.size < opts.batchSize) {
    // Training drops incomplete batches: there would be no step at all.
    throw new UsageError(`${data.name} has ${data.size} samples, fewer than one batch of ${opts.batchSize}.`, { action: 'Lower --batch-size, or give more data.' });
  }
  const resume = hooks.resume;
  if (resume) checkResumable(resume, model, source, hooks.evalData, opts, hooks.resumeFrom ?? 'the checkpoint');
  const fingerprint = modelFingerprint(model);
  const calOpts = { batches: opts.calibrationBatches, batchSize: opts.batchSize, seed: opts.seed };
  let current = model;
  const mode = actScaleMode(model);
  const calibrated = resume ? resume.calibrated : { thresholds: false, act_scales: false };
  if (resume) {
    // The checkpoint holds every tensor calibration or training changed, and the calibrated metadata.
    const initializers = new Map(model.graph.initializers);
    for (const [name, t] of resume.params) initializers.set(name, constTensor(name, 'float32', t.dims.slice(), Float32Array.from(t.values)));
    current = { ...model, metadata: resume.metadata, graph: { ...model.graph, initializers } };
  } else {
    const scales = mode !== 'dynamic' && (mode === 'static-uncalibrated' || opts.recalibrate);
    if (scales || target !== undefined) {
      current = await calibrate(current, data, { ...calOpts, scales, targetSparsity: target });
      calibrated.act_scales = scales;
      calibrated.thresholds = target !== undefined;
    }
  }

  const exec = new Executor(current, { registry: opRegistry });
  const inputName = exec.graph.inputs.find((i) => !exec.graph.initializers.has(i.name))!.name;
  const outputName = exec.graph.outputs[0].name;
  const gated = layers.filter((l) => l.gated);
  const gateVars = new Map<string, tf.Variable>();
  const paramOf = new Map<tf.Variable, string>();
  const weightVars = new Map<string, tf.Variable>();
  const makeVar = (name: string, into: Map<string, tf.Variable>) => {
    if (into.has(name) || gateVars.has(name) || weightVars.has(name)) return;
    const v = tf.variable(exec.param(name)!, true, `pg${++session}/${name}`);
    paramOf.set(v, name);
    exec.setParam(name, v);
    into.set(name, v);
  };
  for (const l of gated) makeVar(l.threshold!, gateVars);
  for (const l of layers) if (!l.dynamic) makeVar(l.actScale, gateVars);
  if (opts.trainWeights) {
    for (const n of exec.graph.nodes) {
      if (!['Conv', 'Gemm', 'PGConv', 'PGGemm', 'QConv', 'QGemm'].includes(n.opType)) continue;
      for (const i of n.inputs.slice(1, 3)) if (i && exec.graph.initializers.has(i)) makeVar(i, weightVars);
    }
  }
  const thrVars = gated.map((l) => gateVars.get(l.threshold!)!);
  const gateOpt = tf.train.adam(opts.lr);
  const weightOpt = opts.trainWeights && opts.weightLr > 0 ? tf.train.adam(opts.weightLr) : undefined;
  // The float twin ignores thresholds and scales, the only tensors calibration changes: the input model's twin is the calibrated model's.
  const teacher = opts.distill ? new Executor(floatTwin(model), { registry: opRegistry }) : undefined;
  const settings = { [SETTINGS.alpha]: opts.alpha, [SETTINGS.sparseBackprop]: opts.sparseBackprop, [RUNTIME_SETTINGS.weightGradients]: opts.trainWeights };
  const budget = target === undefined ? undefined : 1 - target;

  const all = [...gateVars.values(), ...weightVars.values()];
  const shards = Math.max(1, Math.min(opts.shards, opts.batchSize));
  const totalSteps = Math.max(1, Math.min(opts.maxSteps ?? Infinity, Math.floor((opts.epochs * data.size) / opts.batchSize)));
  const stepMs: number[] = [];
  let loss: number | null = resume?.last.loss ?? null;
  let sparsity: number | null = resume?.last.sparsity ?? null;
  let step = resume?.position.step ?? 0;
  const firstStep = step;
  let epoch = resume?.position.epoch ?? 0;
  /** Batches of `epoch` consumed by steps. */
  let batchInEpoch = resume?.position.batch ?? 0;
  const evaluations: FinetuneEvaluation[] = resume ? [...resume.evaluations] : [];
  let best: { step: number; params: Map<string, TensorValues> } | null = resume?.best ?? null;
  let stopped: FinetuneResult['stopped'] = 'completed';
  let evalMs = 0;

  const values = (): Map<string, TensorValues> => new Map(all.map((v) => [paramOf.get(v)!, { dims: v.shape.slice(), values: Float32Array.from(v.dataSync() as Float32Array) }]));
  const withParams = (params: Map<string, TensorValues>): Model => {
    const initializers = new Map(current.graph.initializers);
    for (const [name, t] of params) initializers.set(name, constTensor(name, 'float32', t.dims.slice(), t.values));
    return { ...current, graph: { ...current.graph, initializers } };
  };
  const evaluateNow = async (): Promise<void> => {
    if (!heldOut) return;
    const t0 = Date.now();
    const params = values();
    const r = await reportModel(withParams(params), heldOut, { batchSize: Math.max(opts.batchSize, 256) });
    const e: FinetuneEvaluation = { step, accuracy: r.accuracy, sparsity: r.sparsity, bavg: r.bavg, meets_target: target === undefined || r.sparsity >= target };
    evaluations.push(e);
    if (opts.keepBest && bestEvaluation(evaluations) === e) best = { step, params };
    evalMs = Date.now() - t0;
    hooks.onEvaluation?.(e);
  };
  const checkpoint = async (): Promise<FinetuneCheckpoint> => ({
    model: { path: model.sourcePath ?? null, fingerprint },
    data: { name: source.name, size: source.size },
    evalData: hooks.evalData ? { name: hooks.evalData.name, size: hooks.evalData.size } : null,
    options: checkpointOptions(opts),
    position: { step, epoch, batch: batchInEpoch, totalSteps },
    calibrated: { ...calibrated },
    metadata: { ...current.metadata },
    params: values(),
    optimizers: { gate: await adamState(gateOpt, gateVars), weights: weightOpt ? await adamState(weightOpt, weightVars) : null },
    evaluations: [...evaluations],
    best,
    last: { loss, sparsity },
  });
  let gradients: DataParallelGradients | undefined;
  try {
    if (resume) {
      await restoreAdam(gateOpt, resume.optimizers.gate, gateVars);
      if (weightOpt && resume.optimizers.weights) await restoreAdam(weightOpt, resume.optimizers.weights, weightVars);
    }
    // `current` holds the parameters' values (calibrated, or restored from the checkpoint) the workers start from.
    const engine = (gradients = await DataParallelGradients.start({
      model: current,
      main: { exec, vars: all, thresholds: thrVars, teacher },
      params: all.map((v) => paramOf.get(v)!),
      thresholds: gated.map((l) => l.threshold!),
      distill: opts.distill,
      spec: { inputName, outputName, numClasses, labelsPerSample: labelsPerSample(source), penalty: opts.penalty, gateTarget: opts.gateTarget, budget, sparsityWeight: opts.sparsityWeight, settings },
      options: { workers: Math.min(opts.workers ?? defaultWorkers(shards), shards), shards },
      batchSize: opts.batchSize,
      sampleShape: data.sampleShape,
    }));
    // Progress reports training time (calibration excluded); the time budget counts from `started`.
    const trainingStarted = Date.now();
    training: for (; step < totalSteps; epoch++, batchInEpoch = 0) {
      let skip = batchInEpoch;
      let batches = 0;
      for await (const batch of data.batches(opts.batchSize, { shuffle: true, seed: opts.seed * 1000 + epoch, dropLast: true })) {
        batches++;
        if (skip > 0) {
          skip--;
          continue;
        }
        if (step >= totalSteps) break training;
        if (hooks.signal?.aborted) {
          stopped = 'interrupted';
          break training;
        }
        // Stop before a step (and the final evaluation) would overrun the budget; the last step's time predicts the next.
        if (opts.timeBudgetMs !== undefined && Date.now() - started + (stepMs.at(-1) ?? 0) + evalMs > opts.timeBudgetMs) {
          stopped = 'time-budget';
          break training;
        }
        const t0 = performance.now();
        const factor = lrFactor(opts.lrSchedule, step, totalSteps);
        setLearningRate(gateOpt, opts.lr * factor);
        if (weightOpt) setLearningRate(weightOpt, opts.weightLr * factor);
        // Loss and gradients over the batch's micro-shards, on the main thread and the workers.
        const g = await engine.step(batch, step);
        const [l, sp] = [g.loss, 1 - g.gateOn / (g.gateTotal || 1)];
        tf.tidy(() => {
          const grads = engine.slices(g.grads);
          const pick = (vars: Map<string, tf.Variable>) => [...vars.values()].map((v) => ({ name: v.name, tensor: tf.tensor(grads[v.name], v.shape, 'float32') }));
          gateOpt.applyGradients(pick(gateVars));
          // The weights' Adam (most of the parameters) in one native pass when the addon is on: the same bits.
          if (weightOpt && !nativeAdamStep(weightOpt, [...weightVars.values()].map((v) => ({ variable: v, grad: grads[v.name] })))) weightOpt.applyGradients(pick(weightVars));
          // Scales stay positive whatever a step does.
          for (const l of layers) if (!l.dynamic) gateVars.get(l.actScale)!.assign(tf.maximum(gateVars.get(l.actScale)!, 1e-6));
        });
        engine.publish();
        if (!Number.isFinite(l)) {
          throw new TrainingError(`the loss became ${l} at step ${step + 1}`, { action: 'lower --lr / --weight-lr, or check the data for NaN values' });
        }
        loss = l;
        sparsity = sp;
        stepMs.push(performance.now() - t0);
        step++;
        batchInEpoch++;
        hooks.onProgress?.({ step, totalSteps, epoch, loss, sparsity, elapsedMs: Date.now() - trainingStarted });
        if (opts.evalEvery !== undefined && step % opts.evalEvery === 0 && step < totalSteps) await evaluateNow();
        if (hooks.onCheckpoint && opts.checkpointEvery !== undefined && step % opts.checkpointEvery === 0 && step < totalSteps) {
          await hooks.onCheckpoint(await checkpoint());
        }
        // Yield so signals (Ctrl-C) and progress output get through between steps.
        await new Promise((r) => setImmediate(r));
      }
      if (hooks.signal?.aborted && step < totalSteps) {
        stopped = 'interrupted';
        break;
      }
      if (batches === 0) {
        // Only a source that skips unreadable files can come up short of the one batch checked above.
        throw new InvalidDataError(`${data.name} gave no full batch of ${opts.batchSize} readable samples (${data.skipped?.size ?? 0} file(s) skipped as unreadable).`, {
          action: 'Replace the unreadable files, or lower --batch-size.',
        });
      }
    }
    if (stopped !== 'completed') await hooks.onCheckpoint?.(await checkpoint());
    if (opts.finalCalibration && target !== undefined && stopped !== 'interrupted') {
      // Training drifts the sparsity; move each layer's thresholds by one amount so it lands on the target.
      const shifted = await shiftThresholdsToTarget(withParams(values()), data, target, calOpts);
      for (const l of gated) {
        const t = shifted.graph.initializers.get(l.threshold!)!;
        tf.tidy(() => gateVars.get(l.threshold!)!.assign(tf.tensor(t.data() as Float32Array, t.dims, 'float32')));
      }
    }
    // The final evaluation (skipped when interrupted: the user wants to stop, and the checkpoint is written).
    if (stopped !== 'interrupted' && evaluations.at(-1)?.step !== step) await evaluateNow();
    const chosen = opts.keepBest && best !== null ? best : { step, params: values() };
    const result: FinetuneResult = {
      steps: step,
      epochs: (step * opts.batchSize) / data.size,
      step_ms_median: median(stepMs),
      final_loss: loss,
      final_sparsity: sparsity,
      calibrated,
      act_scale: mode === 'dynamic' ? 'dynamic' : 'static',
      trained: [...chosen.params.keys()],
      seed: opts.seed,
      target_sparsity: target ?? null,
      stopped,
      resumed_from_step: firstStep,
      elapsed_ms: Date.now() - started,
      evaluations,
      kept: { from: opts.keepBest && best !== null ? 'best' : 'last', step: chosen.step },
    };
    const metadata = {
      ...current.metadata,
      [META.finetune]: JSON.stringify({ steps: chosen.step, seed: opts.seed, target_sparsity: target ?? null, train_weights: opts.trainWeights, distill: opts.distill, lr_schedule: opts.lrSchedule, data: data.name }),
    };
    return { model: { ...withParams(chosen.params), metadata }, result };
  } finally {
    await gradients?.dispose();
    gateOpt.dispose();
    weightOpt?.dispose();
    teacher?.dispose();
    for (const v of [...gateVars.values(), ...weightVars.values()]) v.dispose();
    exec.dispose();
  }
}

/** The training data and the held-out data: given, or a seeded hold-out of the training data. */
function splitData(source: Dataset, opts: FinetuneOptions, evalData: Dataset | undefined): { data: Dataset; heldOut?: Dataset } {
  if (evalData && opts.evalSplit !== undefined) {
    throw new UsageError('--eval-data and --eval-split both name the held-out data; give one of them.', {
      action: 'Keep --eval-data SPEC for separate data, or --eval-split F to hold out a fraction F of --data.',
    });
  }
  const split = opts.evalSplit !== undefined ? holdOut(source, opts.evalSplit, opts.seed) : undefined;
  const heldOut = evalData ?? split?.heldOut;
  if (!heldOut && (opts.evalEvery !== undefined || opts.keepBest)) {
    throw new UsageError(`${opts.keepBest ? '--keep-best' : '--eval-every'} needs held-out data to evaluate on.`, {
      action: 'Add --eval-data SPEC or --eval-split F (e.g. 0.1).',
    });
  }
  if (heldOut && !heldOut.hasLabels) {
    throw new InvalidDataError(`${heldOut.name} has no labels; evaluating accuracy needs them`, { action: 'give labels with the evaluation data' });
  }
  return { data: split?.train ?? source, heldOut };
}

/** Adam's state for the parameters in `vars`, in the order they are handed to applyGradients. */
async function adamState(opt: tf.AdamOptimizer, vars: Map<string, tf.Variable>): Promise<AdamState> {
  const weights = await opt.getWeights();
  const iterations = (await weights[0].tensor.data())[0];
  weights[0].tensor.dispose();
  const moments = weights.slice(1).map((w) => Float32Array.from(w.tensor.dataSync() as Float32Array));
  const acc = adamAccumulators(opt);
  return {
    names: [...vars.keys()],
    iterations,
    accBeta1: acc.accBeta1.dataSync()[0],
    accBeta2: acc.accBeta2.dataSync()[0],
    m: moments.slice(0, moments.length / 2),
    v: moments.slice(moments.length / 2),
  };
}

/**
 * Puts Adam back in `state`. setWeights recomputes β^(t+1) with pow, which can differ in the last bit from
 * the product Adam accumulates step by step; the saved accumulators are restored over it to stay bit-identical.
 */
async function restoreAdam(opt: tf.AdamOptimizer, state: AdamState, vars: Map<string, tf.Variable>): Promise<void> {
  const names = [...vars.keys()];
  if (JSON.stringify(names) !== JSON.stringify(state.names)) {
    throw new UsageError('The checkpoint trains other tensors than this run would.', { action: 'Resume with the model and flags of the interrupted run.' });
  }
  const tensors = [
    ...state.m.map((m, i) => ({ name: `${vars.get(names[i])!.name}/m`, tensor: tf.tensor(m, vars.get(names[i])!.shape, 'float32') })),
    ...state.v.map((v, i) => ({ name: `${vars.get(names[i])!.name}/v`, tensor: tf.tensor(v, vars.get(names[i])!.shape, 'float32') })),
  ];
  await opt.setWeights([{ name: 'iter', tensor: tf.scalar(state.iterations, 'int32') }, ...tensors]);
  const acc = adamAccumulators(opt);
  tf.tidy(() => {
    acc.accBeta1.assign(tf.scalar(state.accBeta1, 'float32'));
    acc.accBeta2.assign(tf.scalar(state.accBeta2, 'float32'));
  });
  tensors.forEach((t) => t.tensor.dispose());
}

/** tfjs keeps β₁^(t+1), β₂^(t+1) in private variables that getWeights does not return. */
function adamAccumulators(opt: tf.AdamOptimizer): { accBeta1: tf.Variable; accBeta2: tf.Variable } {
  return opt as unknown as { accBeta1: tf.Variable; accBeta2: tf.Variable };
}

/** Multiplier of the base learning rates at `step` (0-based) of `total`. */
export function lrFactor(schedule: FinetuneOptions['lrSchedule'], step: number, total: number): number {
  if (schedule === 'constant') return 1;
  const warmup = Math.max(1, Math.round(total * 0.05));
  if (step < warmup) return (step + 1) / warmup;
  return 0.5 * (1 + Math.cos((Math.PI * (step - warmup)) / Math.max(1, total - warmup)));
}

/** tfjs optimizers take the rate in the constructor only; their state (Adam's moments) must survive a change. */
function setLearningRate(opt: tf.Optimizer, lr: number): void {
  (opt as unknown as { learningRate: number }).learningRate = lr;
}

/** Variable names must be unique per process; several fine-tunes may run in one (tests, sweeps). */
let session = 0;

function median(v: number[]): number {
  if (!v.length) return 0;
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Classes a classifier predicts: the last dimension of its first output, when fixed. */
function outputClasses(model: Model): number | undefined {
  const dims = model.graph.outputs[0]?.shape;
  const last = dims?.[dims.length - 1];
  return typeof last === 'number' && last > 0 ? last : undefined;
}
