// The PG fine-tuning step the step benchmarks time, the one bench/pytorch_pg_step.py mirrors: 4/2 bits, 8-bit
// weights, static learnable scales, thresholds and weights trained with Adam (weight learning rate 1e-4),
// target sparsity 0.85. The caller passes its build's convertModel, finetune and FINETUNE_DEFAULTS (bench scripts
// import @pg/core/internal from packages/core/dist/internal.js).

export const PG_STEP_CONVERT = { bits: 4, hbits: 2, wbits: 8, actScale: 'static' };

/**
 * Converts `model` with PG_STEP_CONVERT and fine-tunes it for `maxSteps` steps of `batchSize`; `workers` undefined
 * means finetune's default. `gateResidual`: pg convert's --gate-residual (true) or --no-gate-residual (false, the
 * default here), or 'default': no flag, what that build does (a build from before the flag has no such option).
 * Returns finetune's result and the converted layers.
 */
export async function runPgSteps({ convertModel, finetune, FINETUNE_DEFAULTS }, model, data, { batchSize, maxSteps, calibrationBatches, workers, gateResidual = false }, hooks) {
  const { model: gated, layers } = convertModel(model, gateResidual === 'default' ? PG_STEP_CONVERT : { ...PG_STEP_CONVERT, gateResidual });
  const opts = { ...FINETUNE_DEFAULTS, batchSize, maxSteps, trainWeights: true, weightLr: 1e-4, targetSparsity: 0.85, calibrationBatches, workers };
  const { result } = await finetune(gated, data, opts, hooks);
  return { result, layers };
}

/**
 * The process's CPU time (every thread) per step after `warmup` steps, from finetune's progress reports: pass
 * `onProgress` as its hook, read `cpuMedian()` after. On a shared machine it moves less with the other processes'
 * load than the wall time does.
 */
export function stepCpuTimes(warmup) {
  const cpu = [];
  let last;
  return {
    onProgress: (p) => {
      const now = process.cpuUsage();
      if (last && p.step > warmup) cpu.push((now.user + now.system - last.user - last.system) / 1000);
      last = now;
    },
    cpuMedian: () => median(cpu),
  };
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
