import type { Batch } from '../../data/index.js';
import { InvalidDataError, TrainingError } from '../../errors/index.js';
import type { DataParallelGradients } from '../parallel/data-parallel.js';
import type { FinetuneResult } from '../options.js';
import { evaluateHeldOut } from './held-out.js';
import { checkpointOf, type FinetuneRun } from './run.js';

/**
 * Trains from the run state's step to the last one, epoch by epoch in each epoch's seeded batch order (a
 * resumed run skips the batches its epoch already used), unless the abort signal or the time budget stops
 * it first. After each step: progress, the held-out evaluation and the checkpoint when due. A run that
 * stops early hands out its checkpoint.
 */
export async function trainSteps(run: FinetuneRun, engine: DataParallelGradients): Promise<void> {
  const { opts, hooks, state } = run;
  const due = (every: number | undefined) => every !== undefined && state.step % every === 0 && state.step < state.totalSteps;
  // Progress reports training time (calibration excluded); the time budget counts from run.started.
  const trainingStarted = Date.now();
  training: for (; state.step < state.totalSteps; state.nextEpoch()) {
    let skip = state.batchInEpoch;
    let batches = 0;
    for await (const batch of run.prep.data.batches(opts.batchSize, { shuffle: true, seed: opts.seed * 1000 + state.epoch, dropLast: true })) {
      batches++;
      if (skip > 0) {
        skip--;
        continue;
      }
      const stop = stopBeforeStep(run);
      if (stop) {
        state.stopped = stop;
        break training;
      }
      await trainStep(run, engine, batch);
      hooks.onProgress?.({
        step: state.step,
        totalSteps: state.totalSteps,
        epoch: state.epoch,
        loss: state.loss!,
        sparsity: state.sparsity!,
        elapsedMs: Date.now() - trainingStarted,
      });
      if (due(opts.evalEvery)) await evaluateHeldOut(run);
      if (hooks.onCheckpoint && due(opts.checkpointEvery)) await hooks.onCheckpoint(await checkpointOf(run));
      // Yield so signals (Ctrl-C) and progress output get through between steps.
      await new Promise((r) => setImmediate(r));
    }
    if (hooks.signal?.aborted && state.step < state.totalSteps) {
      state.stopped = 'interrupted';
      break;
    }
    if (batches === 0) {
      // Only a source that skips unreadable files can come up short of the one batch prepare checked.
      const data = run.prep.data;
      throw new InvalidDataError(`${data.name} gave no full batch of ${opts.batchSize} readable samples (${data.skipped?.size ?? 0} file(s) skipped as unreadable).`, {
        action: 'Replace the unreadable files, or lower --batch-size.',
      });
    }
  }
  if (state.stopped !== 'completed') await hooks.onCheckpoint?.(await checkpointOf(run));
}

/** Why training stops before the next step, if it does: every step done, the abort signal, or the time budget. */
function stopBeforeStep(run: FinetuneRun): FinetuneResult['stopped'] | undefined {
  const { opts, state } = run;
  if (state.step >= state.totalSteps) return 'completed';
  if (run.hooks.signal?.aborted) return 'interrupted';
  // Stop before a step (and the final evaluation) would overrun the budget; the last step's time predicts the next.
  if (opts.timeBudgetMs !== undefined && Date.now() - run.started + (state.stepMs.at(-1) ?? 0) + state.evalMs > opts.timeBudgetMs) return 'time-budget';
  return undefined;
}

/** One step: the batch's loss and gradients over its micro-shards (main thread and workers), the optimizers' update, the new parameters published. */
async function trainStep(run: FinetuneRun, engine: DataParallelGradients, batch: Batch): Promise<void> {
  const { state } = run;
  const t0 = performance.now();
  const g = await engine.step(batch, state.step);
  run.optimizers.apply(run.trainable, engine.slices(g.grads), state.step, state.totalSteps);
  engine.publish();
  if (!Number.isFinite(g.loss)) {
    throw new TrainingError(`the loss became ${g.loss} at step ${state.step + 1}`, { action: 'lower --lr / --weight-lr, or check the data for NaN values' });
  }
  state.stepDone(g.loss, 1 - g.gateOn / (g.gateTotal || 1), performance.now() - t0);
}
