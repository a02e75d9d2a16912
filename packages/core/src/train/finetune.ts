import * as tf from '@tensorflow/tfjs-core';
import type { Dataset } from '../data/index.js';
import type { Model } from '../graph/index.js';
import { constTensor } from '../graph/index.js';
import { InvalidDataError, TrainingError, UsageError } from '../errors/index.js';
import { Executor } from '../runtime/executor.js';
import { RUNTIME_SETTINGS } from '../runtime/kernel.js';
import { META, SETTINGS, actScaleMode, floatTwin, pgLayers } from '../pg/index.js';
import { calibrate } from './calibrate.js';
import { DataParallelGradients, defaultWorkers } from './parallel/data-parallel.js';
import type { FinetuneOptions, FinetuneProgress, FinetuneResult } from './options.js';

export interface FinetuneHooks {
  onProgress?(p: FinetuneProgress): void;
  /** Aborting stops training after the current step; the result holds what was trained so far. */
  signal?: AbortSignal;
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
 */
export async function finetune(model: Model, data: Dataset, opts: FinetuneOptions, hooks: FinetuneHooks = {}): Promise<FinetuneOutput> {
  const layers = pgLayers(model);
  if (!layers.some((l) => l.gated)) {
    throw new UsageError(`${model.sourcePath ?? 'the model'} has no gated layers`, { action: 'run `pg convert` on the float model first' });
  }
  if (!data.hasLabels || !data.numClasses) {
    throw new InvalidDataError(`${data.name} has no labels; fine-tuning needs them`, { action: 'give labels (--labels y.npy, or y in the .npz)' });
  }
  const calOpts = { batches: opts.calibrationBatches, batchSize: opts.batchSize, seed: opts.seed };
  let current = model;
  const mode = actScaleMode(model);
  const calibrated = { thresholds: false, act_scales: false };
  const scales = mode !== 'dynamic' && (mode === 'static-uncalibrated' || opts.recalibrate);
  if (scales || opts.targetSparsity !== undefined) {
    current = await calibrate(current, data, { ...calOpts, scales, targetSparsity: opts.targetSparsity });
    calibrated.act_scales = scales;
    calibrated.thresholds = opts.targetSparsity !== undefined;
  }

  const exec = new Executor(current);
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
  const teacher = opts.distill ? new Executor(floatTwin(current)) : undefined;
  const settings = { [SETTINGS.alpha]: opts.alpha, [SETTINGS.sparseBackprop]: opts.sparseBackprop, [RUNTIME_SETTINGS.weightGradients]: opts.trainWeights };
  const budget = opts.targetSparsity === undefined ? undefined : 1 - opts.targetSparsity;

  const all = [...gateVars.values(), ...weightVars.values()];
  const shards = Math.max(1, Math.min(opts.shards, opts.batchSize));
  const totalSteps = Math.max(1, Math.min(opts.maxSteps ?? Infinity, Math.floor((opts.epochs * data.size) / opts.batchSize)));
  const stepMs: number[] = [];
  let loss = NaN;
  let sparsity = NaN;
  let step = 0;
  const started = Date.now();
  let gradients: DataParallelGradients | undefined;
  try {
    const engine = (gradients = await DataParallelGradients.start({
      model: current,
      main: { exec, vars: all, thresholds: thrVars, teacher },
      params: all.map((v) => paramOf.get(v)!),
      thresholds: gated.map((l) => l.threshold!),
      distill: opts.distill,
      spec: { inputName, outputName, numClasses: data.numClasses, penalty: opts.penalty, gateTarget: opts.gateTarget, budget, sparsityWeight: opts.sparsityWeight, settings },
      options: { workers: Math.min(opts.workers ?? defaultWorkers(shards), shards), shards },
      batchSize: opts.batchSize,
      sampleShape: data.sampleShape,
    }));
    for (let epoch = 0; step < totalSteps; epoch++) {
      for (const batch of data.batches(opts.batchSize, { shuffle: true, seed: opts.seed * 1000 + epoch, dropLast: true })) {
        if (step >= totalSteps || hooks.signal?.aborted) break;
        const t0 = performance.now();
        const factor = lrFactor(opts.lrSchedule, step, totalSteps);
        setLearningRate(gateOpt, opts.lr * factor);
        if (weightOpt) setLearningRate(weightOpt, opts.weightLr * factor);
        // Loss and gradients over the batch's micro-shards, on the main thread and the workers.
        const g = await engine.step(batch, step);
        const [l, sp] = [g.loss, 1 - g.gateOn / (g.gateTotal || 1)];
        tf.tidy(() => {
          const grads = engine.tensors(g.grads);
          const pick = (vars: Map<string, tf.Variable>) => [...vars.values()].map((v) => ({ name: v.name, tensor: grads[v.name] }));
          gateOpt.applyGradients(pick(gateVars));
          if (weightOpt) weightOpt.applyGradients(pick(weightVars));
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
        hooks.onProgress?.({ step, totalSteps, epoch, loss, sparsity, elapsedMs: Date.now() - started });
        // Yield so signals (Ctrl-C) and progress output get through between steps.
        await new Promise((r) => setImmediate(r));
      }
      if (hooks.signal?.aborted) break;
    }
    const trained = new Map<string, Float32Array>();
    for (const v of [...gateVars.values(), ...weightVars.values()]) trained.set(paramOf.get(v)!, v.dataSync() as Float32Array);
    const initializers = new Map(current.graph.initializers);
    for (const [name, values] of trained) {
      const old = initializers.get(name)!;
      initializers.set(name, constTensor(name, 'float32', old.dims.slice(), Float32Array.from(values)));
    }
    const result: FinetuneResult = {
      steps: step,
      epochs: (step * opts.batchSize) / data.size,
      step_ms_median: median(stepMs),
      final_loss: loss,
      final_sparsity: sparsity,
      calibrated,
      act_scale: mode === 'dynamic' ? 'dynamic' : 'static',
      trained: [...trained.keys()],
      seed: opts.seed,
    };
    const metadata = {
      ...current.metadata,
      [META.finetune]: JSON.stringify({ steps: step, seed: opts.seed, target_sparsity: opts.targetSparsity ?? null, train_weights: opts.trainWeights, distill: opts.distill, lr_schedule: opts.lrSchedule, data: data.name }),
    };
    return { model: { ...current, metadata, graph: { ...current.graph, initializers } }, result };
  } finally {
    await gradients?.dispose();
    gateOpt.dispose();
    weightOpt?.dispose();
    teacher?.dispose();
    for (const v of [...gateVars.values(), ...weightVars.values()]) v.dispose();
    exec.dispose();
  }
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
