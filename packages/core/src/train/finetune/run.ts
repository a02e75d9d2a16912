import type { Dataset } from '../../data/index.js';
import type { Model } from '../../graph/index.js';
import type { FinetuneCheckpoint } from '../checkpoint.js';
import type { FinetuneEvaluation, FinetuneOptions, FinetuneProgress, FinetuneResult } from '../options.js';
import type { FinetuneOptimizers } from './optimizers.js';
import type { Preparation } from './prepare.js';
import type { RunState } from './run-state.js';
import type { TrainableSet } from './trainable.js';

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

/** One fine-tune under way: what the step loop, the evaluations and finishing share. */
export interface FinetuneRun {
  opts: FinetuneOptions;
  hooks: FinetuneHooks;
  prep: Preparation;
  trainable: TrainableSet;
  optimizers: FinetuneOptimizers;
  state: RunState;
  /** Date.now() when finetune was called: the time budget and elapsed_ms count from here. */
  started: number;
}

/** The run's checkpoint at this moment. */
export async function checkpointOf(run: FinetuneRun): Promise<FinetuneCheckpoint> {
  const params = run.trainable.values();
  return run.state.checkpoint(params, await run.optimizers.state(run.trainable));
}
