import type { Dataset } from '../../data/index.js';
import type { Model } from '../../graph/index.js';
import { checkpointOptions, type FinetuneCheckpoint, type TensorValues } from '../checkpoint.js';
import { bestEvaluation } from '../best-evaluation.js';
import type { FinetuneEvaluation, FinetuneOptions, FinetuneResult } from '../options.js';
import type { FinetuneHooks } from './run.js';
import type { Preparation } from './prepare.js';

/** What a checkpoint says about the run besides its progress; fixed from the first step. */
export type RunOrigin = Pick<FinetuneCheckpoint, 'model' | 'data' | 'evalData' | 'options' | 'calibrated' | 'metadata'>;

/** The kept model's trained tensors and the step they are from. */
export interface KeptParams {
  step: number;
  params: Map<string, TensorValues>;
}

/**
 * Where a fine-tune is: steps done, the position in the epoch's seeded batch order, the last loss and
 * sparsity, the evaluations and the best one's tensors, and why it stopped. It starts fresh or from a
 * checkpoint, and with the trained tensors and the optimizers' state it makes the next checkpoint: the
 * progress a checkpoint saves and restores is kept here alone.
 */
export class RunState {
  step: number;
  epoch: number;
  /** Batches of `epoch` consumed by steps. */
  batchInEpoch: number;
  /** The step this run started from (non-zero when resumed). */
  readonly firstStep: number;
  loss: number | null;
  sparsity: number | null;
  readonly evaluations: FinetuneEvaluation[];
  /** The best evaluation's tensors so far (keepBest). */
  best: KeptParams | null;
  stopped: FinetuneResult['stopped'] = 'completed';
  /** Wall time of each step of this run, in milliseconds. */
  readonly stepMs: number[] = [];
  /** Wall time of the last evaluation: the time budget keeps room for a final one. */
  evalMs = 0;

  /** A run of `model` (as given) on `source`, prepared by `prepare`; from `hooks.resume` when resumed. */
  static begin(model: Model, source: Dataset, opts: FinetuneOptions, hooks: FinetuneHooks, prep: Preparation): RunState {
    const origin: RunOrigin = {
      model: { path: model.sourcePath ?? null, fingerprint: prep.fingerprint },
      data: { name: source.name, size: source.size },
      evalData: hooks.evalData ? { name: hooks.evalData.name, size: hooks.evalData.size } : null,
      options: checkpointOptions(opts),
      calibrated: prep.calibrated,
      metadata: prep.model.metadata,
    };
    return new RunState(origin, prep.totalSteps, hooks.resume);
  }

  private constructor(
    private readonly origin: RunOrigin,
    readonly totalSteps: number,
    resume?: FinetuneCheckpoint,
  ) {
    this.step = this.firstStep = resume?.position.step ?? 0;
    this.epoch = resume?.position.epoch ?? 0;
    this.batchInEpoch = resume?.position.batch ?? 0;
    this.loss = resume?.last.loss ?? null;
    this.sparsity = resume?.last.sparsity ?? null;
    this.evaluations = resume ? [...resume.evaluations] : [];
    this.best = resume?.best ?? null;
  }

  /** Counts a finished step: its loss, the batch's sparsity and its wall time. */
  stepDone(loss: number, sparsity: number, ms: number): void {
    this.loss = loss;
    this.sparsity = sparsity;
    this.stepMs.push(ms);
    this.step++;
    this.batchInEpoch++;
  }

  /** The next epoch starts (from its first batch). */
  nextEpoch(): void {
    this.epoch++;
    this.batchInEpoch = 0;
  }

  /** Records an evaluation at the current step; with keepBest, `params` are kept when it is the best so far. */
  evaluated(e: FinetuneEvaluation, params: Map<string, TensorValues>, keepBest: boolean, ms: number): void {
    this.evaluations.push(e);
    if (keepBest && bestEvaluation(this.evaluations) === e) this.best = { step: this.step, params };
    this.evalMs = ms;
  }

  /** The checkpoint of this moment, given the trained tensors' values and the optimizers' state. */
  checkpoint(params: Map<string, TensorValues>, optimizers: FinetuneCheckpoint['optimizers']): FinetuneCheckpoint {
    const o = this.origin;
    return {
      model: o.model,
      data: o.data,
      evalData: o.evalData,
      options: o.options,
      position: { step: this.step, epoch: this.epoch, batch: this.batchInEpoch, totalSteps: this.totalSteps },
      calibrated: { ...o.calibrated },
      metadata: { ...o.metadata },
      params,
      optimizers,
      evaluations: [...this.evaluations],
      best: this.best,
      last: { loss: this.loss, sparsity: this.sparsity },
    };
  }
}
