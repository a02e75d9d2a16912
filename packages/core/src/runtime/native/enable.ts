import { loadNativeKernels } from '@pg/native-kernels';
import { registerNativeConvKernels, unregisterNativeConvKernels } from './conv-kernels.js';
import { registerNativePgKernels, unregisterNativePgKernels } from './pg-kernels.js';
import { activeNativeKernels, nativeUnavailableReason, setActiveNativeKernels } from './native-conv.js';

/**
 * Turns the oneDNN convolutions (and the PG quantizer/gate kernels) on under the wasm backend when the addon is built and loads (and PG_NATIVE
 * is not 0); otherwise leaves pure tfjs-wasm, silently. Returns whether they are on.
 */
export function enableNativeConv(): boolean {
  if (activeNativeKernels()) return true;
  if (nativeUnavailableReason() !== undefined) return false;
  const load = loadNativeKernels();
  if (!load.ok) return false;
  registerNativeConvKernels(load.kernels);
  // PG_NATIVE_QUANT=0: the convolutions stay native, the quantizer/gate run composed (for comparisons).
  if (process.env.PG_NATIVE_QUANT !== '0') registerNativePgKernels(load.kernels);
  setActiveNativeKernels(load.kernels);
  return true;
}

/** Back to the wasm backend's own convolutions (tests and benches compare the two in one process). */
export function disableNativeConv(): void {
  if (!activeNativeKernels()) return;
  unregisterNativeConvKernels();
  unregisterNativePgKernels();
  setActiveNativeKernels(undefined);
}

export { nativeUnavailableReason };
