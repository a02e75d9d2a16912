// The PG fine-tuning step the step benchmarks time, the one bench/pytorch_pg_step.py mirrors: 4/2 bits, 8-bit
// weights, static learnable scales, thresholds and weights trained with Adam (weight learning rate 1e-4),
// target sparsity 0.85. The caller passes its build's convertModel, finetune and FINETUNE_DEFAULTS (bench scripts
// import @pg/core/internal from packages/core/dist/internal.js).

export const PG_STEP_CONVERT = { bits: 4, hbits: 2, wbits: 8, actScale: 'static' };

/**
 * Converts `model` with PG_STEP_CONVERT (and `gateResidual`: pg convert --gate-residual) and fine-tunes it for
 * `maxSteps` steps of `batchSize`; `workers` undefined means finetune's default. Returns finetune's result and
 * the converted layers.
 */
export async function runPgSteps({ convertModel, finetune, FINETUNE_DEFAULTS }, model, data, { batchSize, maxSteps, calibrationBatches, workers, gateResidual = false }, hooks) {
  const { model: gated, layers } = convertModel(model, { ...PG_STEP_CONVERT, gateResidual });
  const opts = { ...FINETUNE_DEFAULTS, batchSize, maxSteps, trainWeights: true, weightLr: 1e-4, targetSparsity: 0.85, calibrationBatches, workers };
  const { result } = await finetune(gated, data, opts, hooks);
  return { result, layers };
}
