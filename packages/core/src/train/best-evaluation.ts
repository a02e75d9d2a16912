import type { FinetuneEvaluation } from './options.js';

/**
 * The evaluation `keepBest` keeps: among those meeting the target sparsity (all, without a target), the
 * highest accuracy; ties go to the higher sparsity (cheaper), then to the earlier step. Undefined when
 * none meets the target.
 */
export function bestEvaluation(evaluations: readonly FinetuneEvaluation[]): FinetuneEvaluation | undefined {
  let best: FinetuneEvaluation | undefined;
  for (const e of evaluations) {
    if (!e.meets_target) continue;
    if (!best || e.accuracy > best.accuracy || (e.accuracy === best.accuracy && e.sparsity > best.sparsity)) best = e;
  }
  return best;
}
