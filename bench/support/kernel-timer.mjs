// Per-kernel wall time of tfjs-wasm, for the fine-tuning step profiles (bench/profile-step.mjs,
// bench/zoo-step-profile.mjs): every kernel registered for the wasm backend, pg's native ones included, is
// re-registered wrapped in a timer. Wasm kernels are synchronous, so a kernel's wall time is its cost.

/**
 * Wraps the wasm kernels of `tf` (the @tensorflow/tfjs-core instance the pg build uses; call after its
 * initBackend('wasm')). Nothing is counted until start(), which returns performance.now() to time the wall from.
 */
export function timeWasmKernels(tf) {
  const times = new Map();
  let on = false;
  for (const k of tf.getKernelsForBackend('wasm')) {
    const f = k.kernelFunc;
    tf.unregisterKernel(k.kernelName, 'wasm');
    tf.registerKernel({
      ...k,
      kernelFunc: (a) => {
        if (!on) return f(a);
        const t0 = performance.now();
        const r = f(a);
        const e = times.get(k.kernelName) ?? [0, 0];
        e[0] += performance.now() - t0;
        e[1]++;
        times.set(k.kernelName, e);
        return r;
      },
    });
  }
  return {
    start() {
      on = true;
      return performance.now();
    },
    /** Stops counting (the kernels after it, e.g. a final calibration, are not counted); returns performance.now(). */
    stop() {
      on = false;
      return performance.now();
    },
    /** Milliseconds in all kernels since start(). */
    totalMs() {
      let total = 0;
      for (const [t] of times.values()) total += t;
      return total;
    },
    /** The `top` kernels with the most time since start(), most first: { name, ms, calls }. */
    rows(top) {
      return [...times]
        .sort((a, b) => b[1][0] - a[1][0])
        .slice(0, top)
        .map(([name, [ms, calls]]) => ({ name, ms, calls }));
    },
  };
}
