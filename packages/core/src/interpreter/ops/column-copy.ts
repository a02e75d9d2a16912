import * as tf from '@tensorflow/tfjs-core';
import { activeNativeKernels } from '../native/native-conv.js';

/**
 * Column blocks of row-major matrices, copied inside the wasm heap: the slice of columns [begin, begin +
 * width) of a [rows, cols] matrix, or the concatenation of [rows, c_i] matrices along the columns. This is
 * what a channel Slice, Split or Concat of an NHWC activation is (rows = N*H*W). tfjs-wasm's own Slice and
 * Concat do it with a typed-array view allocated per row; one `copyWithin` per row inside the heap does the
 * same copy without allocating, several times faster for the short rows of channel-last data. Only for
 * 4-byte types on the wasm backend and without gradients (the kernels are not differentiable): callers use
 * tf.slice / tf.concat otherwise. With the native addon (packages/native-kernels) each row is one memcpy there.
 */

const SLICE = 'PgColumnSlice';
const CONCAT = 'PgColumnConcat';

interface HeapBackend {
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array | Int32Array;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
}

/** The heap as 32-bit words, and the word offset of a tensor in it. */
function words(backend: HeapBackend, t: tf.TensorInfo): { heap: Float32Array; at: number } {
  const view = backend.typedArrayFromHeap(t);
  return { heap: new Float32Array(view.buffer), at: view.byteOffset / 4 };
}

/**
 * Copies `rows` rows of `width` words from word offset `s` (rows `sStride` apart) to `d` (`dStride` apart) of
 * the heap: in the native addon when it is on, else one copyWithin a row.
 */
function copyRows(heap: Float32Array, s: number, sStride: number, d: number, dStride: number, rows: number, width: number): void {
  const native = activeNativeKernels();
  if (native) {
    native.columnCopy(new Uint8Array(heap.buffer), 4 * s, sStride, 4 * d, dStride, rows, width);
    return;
  }
  for (let r = 0; r < rows; r++, s += sStride, d += dStride) heap.copyWithin(d, s, s + width);
}

let registered = false;
function register(): void {
  if (registered) return;
  registered = true;
  tf.registerKernel({
    kernelName: SLICE,
    backendName: 'wasm',
    kernelFunc: ({ inputs, attrs, backend }) => {
      const b = backend as unknown as HeapBackend;
      const x = inputs.x as tf.TensorInfo;
      const { begin, width } = attrs as { begin: number; width: number };
      const [rows, cols] = x.shape;
      const out = b.makeOutput([rows, width], x.dtype);
      const src = words(b, x);
      const dst = words(b, out);
      copyRows(dst.heap, src.at + begin, cols, dst.at, width, rows, width);
      return out;
    },
  });
  tf.registerKernel({
    kernelName: CONCAT,
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend }) => {
      const b = backend as unknown as HeapBackend;
      const parts = Object.keys(inputs)
        .sort((p, q) => Number(p.slice(1)) - Number(q.slice(1)))
        .map((k) => inputs[k] as tf.TensorInfo);
      const rows = parts[0].shape[0];
      const total = parts.reduce((a, p) => a + p.shape[1], 0);
      const out = b.makeOutput([rows, total], parts[0].dtype);
      const dst = words(b, out);
      let offset = 0;
      for (const p of parts) {
        const cols = p.shape[1];
        const src = words(b, p);
        copyRows(dst.heap, src.at, cols, dst.at + offset, total, rows, cols);
        offset += cols;
      }
      return out;
    },
  });
}

/** Whether the column kernels can take these tensors (wasm backend, 4-byte types). */
export function columnCopyApplies(...ts: tf.Tensor[]): boolean {
  return tf.getBackend() === 'wasm' && ts.every((t) => t.dtype === 'float32' || t.dtype === 'int32');
}

/** Columns [begin, begin + width) of a [rows, cols] matrix. */
export function columnSlice(x: tf.Tensor2D, begin: number, width: number): tf.Tensor2D {
  register();
  return tf.engine().runKernel(SLICE, { x }, { begin, width }) as tf.Tensor2D;
}

/** [rows, c_0], [rows, c_1], ... side by side: [rows, sum c_i]. */
export function columnConcat(parts: tf.Tensor2D[]): tf.Tensor2D {
  register();
  return tf.engine().runKernel(CONCAT, Object.fromEntries(parts.map((p, i) => [`x${i}`, p]))) as tf.Tensor2D;
}
