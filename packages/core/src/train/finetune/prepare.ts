import type { Dataset } from '../../data/index.js';
import { holdOut } from '../../data/index.js';
import { InvalidDataError, InvalidModelError, UsageError } from '../../errors/index.js';
import type { Model } from '../../graph/index.js';
import { actScaleMode, pgLayers, type PgLayer } from '../../gating/index.js';
import { calibrate, type CalibrationOptions } from '../calibrate.js';
import { checkResumable, modelFingerprint, type FinetuneCheckpoint } from '../checkpoint.js';
import type { FinetuneOptions, FinetuneResult } from '../options.js';
import type { FinetuneHooks } from './run.js';
import { planFinetune, type FinetunePlan } from './plan.js';
import { withTensorValues } from './trainable.js';

/** A fine-tune's inputs, checked, and the model training starts from. */
export interface Preparation {
  layers: PgLayer[];
  gated: PgLayer[];
  plan: FinetunePlan;
  /** The training data (without the held-out part) and the held-out data, if any. */
  data: Dataset;
  heldOut?: Dataset;
  numClasses: number;
  /** Steps of the whole run (a resumed run's included). */
  totalSteps: number;
  /** The model with its calibrated parameters, or those restored from the checkpoint: what training starts from. */
  model: Model;
  actScale: FinetuneResult['act_scale'];
  calibrated: FinetuneResult['calibrated'];
  /** The calibration sample (the final calibration uses it too). */
  calibration: CalibrationOptions;
  /** modelFingerprint of the model given, for checkpoints. */
  fingerprint: string;
}

/**
 * Checks the model, data and options (before any work), holds out the evaluation data, and calibrates
 * static activation scales (if not yet) and, with a target, the thresholds; a resumed run instead takes
 * the tensors and metadata calibration and training gave from its checkpoint.
 */
export async function prepare(model: Model, source: Dataset, opts: FinetuneOptions, hooks: FinetuneHooks): Promise<Preparation> {
  const layers = pgLayers(model);
  if (layers.length === 0) {
    throw new UsageError(`${model.sourcePath ?? 'the model'} has no gated or quantized layers`, { action: 'run `pg convert` on the float model first' });
  }
  if (!layers.some((l) => l.gated)) {
    // A statically quantized model (pg convert --mode static) trains its scales and, with trainWeights, weights;
    // the recipe's default target applies to gated layers only (planFinetune), an explicit one is refused.
    const flag =
      opts.targetSparsity !== undefined && opts.targetSparsity !== 'none'
        ? '--target-sparsity'
        : opts.targetBavg !== undefined
          ? '--target-bavg'
          : opts.finalCalibration
            ? '--final-calibration'
            : undefined;
    if (flag) {
      throw new UsageError(`${flag}: ${model.sourcePath ?? 'the model'} has no gated layers (pg convert --mode static), so there is no sparsity to aim at`, {
        action: `leave out ${flag} (and --final-calibration) to fine-tune its scales and weights, or convert with --mode pg`,
      });
    }
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
  const plan = planFinetune(layers, opts);
  const { data, heldOut } = splitData(source, opts, hooks.evalData);
  if (data.size < opts.batchSize) {
    // Training drops incomplete batches: there would be no step at all.
    throw new UsageError(`${data.name} has ${data.size} samples, fewer than one batch of ${opts.batchSize}.`, { action: 'Lower --batch-size, or give more data.' });
  }
  const resume = hooks.resume;
  if (resume) checkResumable(resume, model, source, hooks.evalData, opts, hooks.resumeFrom ?? 'the checkpoint');
  const fingerprint = modelFingerprint(model);
  const calibration = { batches: opts.calibrationBatches, batchSize: opts.batchSize, seed: opts.seed };
  const mode = actScaleMode(model);
  const start = resume ? resumed(model, resume) : await calibrated(model, data, mode, plan, opts, calibration);
  return {
    layers,
    gated: layers.filter((l) => l.gated),
    plan,
    data,
    heldOut,
    numClasses,
    totalSteps: Math.max(1, Math.min(opts.maxSteps ?? Infinity, Math.floor((opts.epochs * data.size) / opts.batchSize))),
    model: start.model,
    actScale: mode === 'dynamic' ? 'dynamic' : 'static',
    calibrated: start.calibrated,
    calibration,
    fingerprint,
  };
}

type Start = Pick<Preparation, 'model' | 'calibrated'>;

/** The checkpoint holds every tensor calibration or training changed, and the calibrated metadata. */
function resumed(model: Model, resume: FinetuneCheckpoint): Start {
  return { model: { ...withTensorValues(model, resume.params), metadata: resume.metadata }, calibrated: resume.calibrated };
}

async function calibrated(model: Model, data: Dataset, mode: string, plan: FinetunePlan, opts: FinetuneOptions, calibration: CalibrationOptions): Promise<Start> {
  const scales = mode !== 'dynamic' && (mode === 'static-uncalibrated' || opts.recalibrate);
  if (!scales && plan.target === undefined) return { model, calibrated: { thresholds: false, act_scales: false } };
  return {
    model: await calibrate(model, data, { ...calibration, scales, targetSparsity: plan.target }),
    calibrated: { thresholds: plan.target !== undefined, act_scales: scales },
  };
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

/** Classes a classifier predicts: the last dimension of its first output, when fixed. */
function outputClasses(model: Model): number | undefined {
  const dims = model.graph.outputs[0]?.shape;
  const last = dims?.[dims.length - 1];
  return typeof last === 'number' && last > 0 ? last : undefined;
}
