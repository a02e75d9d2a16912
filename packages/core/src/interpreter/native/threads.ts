import { activeNativeKernels } from './native-conv.js';

/**
 * OpenMP threads per native convolution while training. oneDNN's weight-gradient reductions split across
 * threads sum in a thread-count-dependent order; one thread per call (per data-parallel worker, each its own
 * OS thread) keeps training bit-identical whatever --workers is. Inference keeps OpenMP's default (all cores).
 */
export const TRAINING_NATIVE_THREADS = 1;

/** The calling thread's native convolution thread count, or undefined when the native kernels are off. */
export function nativeThreads(): number | undefined {
  return activeNativeKernels()?.getThreads();
}

/** Sets the calling thread's native convolution thread count (no-op when native is off); returns the previous. */
export function setNativeThreads(n: number): number | undefined {
  const k = activeNativeKernels();
  if (!k) return undefined;
  const before = k.getThreads();
  k.setThreads(Math.max(1, Math.floor(n)));
  return before;
}

/** Runs `f` with `n` native threads on this thread, restoring the previous count after. */
export async function withNativeThreads<T>(n: number, f: () => Promise<T>): Promise<T> {
  const before = setNativeThreads(n);
  try {
    return await f();
  } finally {
    if (before !== undefined) setNativeThreads(before);
  }
}
