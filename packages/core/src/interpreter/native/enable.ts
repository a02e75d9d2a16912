import { loadNativeKernels } from '@pg/native-kernels';
import { registerNativeConvKernels, unregisterNativeConvKernels } from './conv-kernels.js';
import { GELU_KERNEL_NAMES, geluKernelConfigs } from './gelu-kernels.js';
import { registerKernelTable, unregisterKernelTable } from './kernel-table.js';
import { LAYER_NORM_KERNEL_NAMES, layerNormKernelConfigs } from './layer-norm-kernels.js';
import { MATMUL_KERNEL_NAMES, matMulKernelConfigs } from './matmul-kernels.js';
import { POOL_KERNEL_NAMES, poolKernelConfigs } from './pool-kernels.js';
import { RECURRENT_KERNEL_NAMES, recurrentKernelConfigs } from './recurrent-kernels.js';
import { activeNativeKernels, nativeUnavailableReason, setActiveNativeKernels } from './native-conv.js';

/**
 * Turns the oneDNN convolutions (and the interpreter's other addon kernels) on under the wasm backend when the
 * addon is built and loads (and PG_NATIVE is not 0); otherwise leaves pure tfjs-wasm, silently. Returns
 * whether they are on. pg's own addon kernels (gating/native/) register themselves on first use while it is on.
 */
export function enableNativeConv(): boolean {
  if (activeNativeKernels()) return true;
  if (nativeUnavailableReason() !== undefined) return false;
  const load = loadNativeKernels();
  if (!load.ok) return false;
  registerNativeConvKernels(load.kernels);
  registerKernelTable(poolKernelConfigs(load.kernels));
  registerKernelTable(recurrentKernelConfigs(load.kernels));
  registerKernelTable(geluKernelConfigs(load.kernels));
  registerKernelTable(layerNormKernelConfigs(load.kernels));
  registerKernelTable(matMulKernelConfigs(load.kernels));
  setActiveNativeKernels(load.kernels);
  return true;
}

/** Back to the wasm backend's own convolutions (tests and benches compare the two in one process). */
export function disableNativeConv(): void {
  if (!activeNativeKernels()) return;
  unregisterNativeConvKernels();
  unregisterKernelTable(POOL_KERNEL_NAMES);
  unregisterKernelTable(RECURRENT_KERNEL_NAMES);
  unregisterKernelTable(GELU_KERNEL_NAMES);
  unregisterKernelTable(LAYER_NORM_KERNEL_NAMES);
  unregisterKernelTable(MATMUL_KERNEL_NAMES);
  setActiveNativeKernels(undefined);
}

export { nativeUnavailableReason };
