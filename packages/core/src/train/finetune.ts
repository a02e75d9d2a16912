import type { Dataset } from '../data/index.js';
import { labelsPerSample } from '../data/index.js';
import type { Model } from '../graph/index.js';
import { RUNTIME_SETTINGS } from '../interpreter/kernel.js';
import { Executor } from '../interpreter/executor.js';
import { SETTINGS, floatTwin, opRegistry } from '../gating/index.js';
import { TRAINING_NATIVE_THREADS, withNativeThreads } from '../interpreter/native/threads.js';
import { DataParallelGradients, defaultWorkers } from './parallel/data-parallel.js';
import type { FinetuneOptions } from './options.js';
import { finish } from './finetune/finish.js';
import { FinetuneOptimizers } from './finetune/optimizers.js';
import { prepare, type Preparation } from './finetune/prepare.js';
import { RunState } from './finetune/run-state.js';
import type { FinetuneHooks, FinetuneOutput } from './finetune/run.js';
import { trainSteps } from './finetune/step-loop.js';
import { TrainableSet } from './finetune/trainable.js';

export type { FinetuneHooks, FinetuneOutput } from './finetune/run.js';
export { lrFactor } from './finetune/lr-schedule.js';

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

/**
 * The parts in order: preparation (checks, calibration or the checkpoint's tensors), the trainable set
 * and its optimizers, the run state, the step loop, finishing.
 */
async function finetuneRun(model: Model, source: Dataset, opts: FinetuneOptions, hooks: FinetuneHooks): Promise<FinetuneOutput> {
  const started = Date.now();
  const prep = await prepare(model, source, opts, hooks);
  const trainable = new TrainableSet(prep.model, prep.layers, prep.plan.trainWeights);
  const optimizers = new FinetuneOptimizers(opts, prep.plan);
  // Distillation's float model is the twin of the model as given (the twin ignores the thresholds and scales calibration
  // sets); not of the prepared one, whose weights are a checkpoint's trained ones when the run resumes.
  const teacherModel = opts.distill ? floatTwin(model) : undefined;
  const teacher = teacherModel && new Executor(teacherModel, { registry: opRegistry });
  const state = RunState.begin(model, source, opts, hooks, prep);
  let engine: DataParallelGradients | undefined;
  try {
    if (hooks.resume) await optimizers.restore(hooks.resume.optimizers, trainable);
    engine = await startGradients(prep, opts, trainable, teacherModel, teacher);
    const run = { opts, hooks, prep, trainable, optimizers, state, started };
    await trainSteps(run, engine);
    return await finish(run);
  } finally {
    await engine?.dispose();
    optimizers.dispose();
    teacher?.dispose();
    trainable.dispose();
  }
}

/** The data-parallel gradient engine, its workers starting from the prepared model (calibrated, or restored from the checkpoint). */
function startGradients(
  prep: Preparation,
  opts: FinetuneOptions,
  trainable: TrainableSet,
  teacherModel: Model | undefined,
  teacher: Executor | undefined,
): Promise<DataParallelGradients> {
  const { exec } = trainable;
  const shards = Math.max(1, Math.min(opts.shards, opts.batchSize));
  const settings = { [SETTINGS.alpha]: opts.alpha, [SETTINGS.sparseBackprop]: opts.sparseBackprop, [RUNTIME_SETTINGS.weightGradients]: prep.plan.trainWeights };
  return DataParallelGradients.start({
    model: prep.model,
    main: { exec, vars: trainable.variables, thresholds: trainable.thresholds, teacher },
    params: trainable.names,
    thresholds: prep.gated.map((l) => l.threshold!),
    teacher: teacherModel,
    spec: {
      inputName: exec.graph.inputs.find((i) => !exec.graph.initializers.has(i.name))!.name,
      outputName: exec.graph.outputs[0].name,
      numClasses: prep.numClasses,
      labelsPerSample: labelsPerSample(prep.data),
      penalty: opts.penalty,
      gateTarget: opts.gateTarget,
      budget: prep.plan.budget,
      sparsityWeight: opts.sparsityWeight,
      settings,
    },
    options: { workers: Math.min(opts.workers ?? defaultWorkers(shards), shards), shards },
    batchSize: opts.batchSize,
    sampleShape: prep.data.sampleShape,
  });
}
