export { enableNativeConv, disableNativeConv, nativeUnavailableReason } from './enable.js';
export { activeNativeKernels } from './native-conv.js';
export { nativeConv, nativeConvFilterBiasGrad, nativeConvFilterGrad, nativeConvInputGrad, nativeConvOnnxWeights, hwioShape, type NativeGeometry, type WeightLayout } from './native-grads.js';
export { nativeThreads, setNativeThreads, withNativeThreads, TRAINING_NATIVE_THREADS } from './threads.js';
export { nativeFakeQuant, nativeMaxPool, nativeQuantizeWeights, nativeGateBackward, nativeGateForward, nativeQuantBackward, nativeQuantSplit } from './pg-ops.js';
export { heapOffset, wasmHeap } from './wasm-heap.js';
