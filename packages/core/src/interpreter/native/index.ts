export { enableNativeConv, disableNativeConv, nativeUnavailableReason } from './enable.js';
export { activeNativeKernels } from './native-conv.js';
export {
  nativeConv,
  nativeConvAvailable,
  nativeConvFilterBiasGrad,
  nativeConvFilterGrad,
  nativeConvInputGrad,
  nativeConvOnnxWeights,
  hwioShape,
  type NativeGeometry,
  type WeightLayout,
} from './native-grads.js';
export { nativeThreads, setNativeThreads, withNativeThreads, TRAINING_NATIVE_THREADS } from './threads.js';
export { nativeMaxPool } from './pool-ops.js';
export { nativeGelu } from './gelu-kernels.js';
export { nativeLstmDirection } from './recurrent-kernels.js';
export { eltParams, nativeKernelOn, registerKernelTable, required, sizeOf, unregisterKernelTable, type KernelArgs } from './kernel-table.js';
export { heapOffset, wasmHeap } from './wasm-heap.js';
