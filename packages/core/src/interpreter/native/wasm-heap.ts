import type * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

// The native kernels read and write tfjs-wasm tensors in place: they take the wasm heap and byte offsets into it.

/**
 * The wasm backend's heap (its typings do not expose HEAPU8). Read it after every allocation: makeOutput can
 * grow the wasm Memory, which detaches the old buffer.
 */
export function wasmHeap(backend: BackendWasm): Uint8Array {
  return (backend.wasm as unknown as { HEAPU8: Uint8Array }).HEAPU8;
}

/** A tensor's byte offset in the heap, or -1 for an absent (optional) tensor, as the addon expects. */
export function heapOffset(backend: BackendWasm, t: tf.TensorInfo | undefined): number {
  return t ? backend.dataIdMap.get(t.dataId).memoryOffset : -1;
}
