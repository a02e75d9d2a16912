import { reportModel } from '../../metrics/index.js';
import type { FinetuneEvaluation } from '../options.js';
import type { FinetuneRun } from './run.js';
import { withTensorValues } from './trainable.js';

/**
 * Evaluates the trained tensors as they are now on the held-out data (if there is any), records the
 * evaluation in the run state (keeping the tensors when it is the best, with keepBest) and hands it out.
 */
export async function evaluateHeldOut(run: FinetuneRun): Promise<void> {
  const { prep, state } = run;
  if (!prep.heldOut) return;
  const t0 = Date.now();
  const params = run.trainable.values();
  const r = await reportModel(withTensorValues(prep.model, params), prep.heldOut, { batchSize: Math.max(run.opts.batchSize, 256) });
  const target = prep.plan.target;
  const e: FinetuneEvaluation = { step: state.step, accuracy: r.accuracy, sparsity: r.sparsity, bavg: r.bavg, meets_target: target === undefined || r.sparsity >= target };
  state.evaluated(e, params, run.opts.keepBest, Date.now() - t0);
  run.hooks.onEvaluation?.(e);
}
