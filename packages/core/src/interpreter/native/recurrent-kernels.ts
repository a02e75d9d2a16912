import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { LSTM_PARAM_COUNT, LstmParam, type NativeKernels } from '@pg/native-kernels';
import { customGrad } from '../custom-grad.js';
import { nativeKernelOn, required, type KernelArgs } from './kernel-table.js';
import { heapOffset, wasmHeap } from './wasm-heap.js';

/**
 * One LSTM direction's recurrence as two wasm-backend kernels backed by the addon (forward, and back-propagation
 * through time): interpreter/ops/recurrent.ts runs a plain LSTM through them when the addon is on.
 */
export const PG_LSTM_FORWARD = 'PgLstmForward';
export const PG_LSTM_BACKWARD = 'PgLstmBackward';
export const RECURRENT_KERNEL_NAMES = [PG_LSTM_FORWARD, PG_LSTM_BACKWARD];

interface LstmAttrs {
  reverse: boolean;
}

function lstmParams(steps: number, batch: number, hidden: number, reverse: boolean): Int32Array {
  const p = new Int32Array(LSTM_PARAM_COUNT);
  p[LstmParam.Steps] = steps;
  p[LstmParam.Batch] = batch;
  p[LstmParam.Hidden] = hidden;
  p[LstmParam.Reverse] = reverse ? 1 : 0;
  return p;
}

export function recurrentKernelConfigs(k: NativeKernels): tf.KernelConfig[] {
  const forward = (args: KernelArgs): tf.TensorInfo[] => {
    const backend = args.backend as BackendWasm;
    const [xp, rt, h0, c0] = required(args, 'xp', 'rt', 'h0', 'c0');
    const [steps, batch] = xp.shape;
    const hidden = rt.shape[0];
    const y = backend.makeOutput([steps, batch, hidden], 'float32');
    const saved = backend.makeOutput([steps, batch, 5 * hidden], 'float32');
    const off = (t: tf.TensorInfo) => heapOffset(backend, t);
    k.lstmForward(wasmHeap(backend), off(xp), off(rt), off(h0), off(c0), off(y), off(saved), lstmParams(steps, batch, hidden, (args.attrs as unknown as LstmAttrs).reverse));
    return [y, saved];
  };
  const backward = (args: KernelArgs): tf.TensorInfo[] => {
    const backend = args.backend as BackendWasm;
    const [rt, y, saved, h0, c0, dy, dhT, dcT] = required(args, 'rt', 'y', 'saved', 'h0', 'c0', 'dy', 'dhT', 'dcT');
    const [steps, batch, hidden] = y.shape;
    const dxp = backend.makeOutput([steps, batch, 4 * hidden], 'float32');
    const [dh0, dc0] = [0, 1].map(() => backend.makeOutput([batch, hidden], 'float32'));
    const dRt = backend.makeOutput([hidden, 4 * hidden], 'float32');
    const off = (t: tf.TensorInfo) => heapOffset(backend, t);
    k.lstmBackward(
      wasmHeap(backend),
      off(rt),
      off(y),
      off(saved),
      off(h0),
      off(c0),
      off(dy),
      off(dhT),
      off(dcT),
      off(dxp),
      off(dh0),
      off(dc0),
      off(dRt),
      lstmParams(steps, batch, hidden, (args.attrs as unknown as LstmAttrs).reverse),
    );
    return [dxp, dh0, dc0, dRt];
  };
  return [
    { kernelName: PG_LSTM_FORWARD, backendName: 'wasm', kernelFunc: forward as tf.KernelFunc },
    { kernelName: PG_LSTM_BACKWARD, backendName: 'wasm', kernelFunc: backward as tf.KernelFunc },
  ];
}

/**
 * The recurrence of one plain LSTM direction (default activations, no peepholes, clip or input_forget, every
 * sequence T steps): xp [T, N, 4H] the input products with both biases, rt = Rᵀ [H, 4H], h0 and c0 [N, H].
 * Returns y [T, N, H] (h_t by time) and the final cell state [N, H], differentiable with respect to all four
 * inputs; undefined when the addon is off (or a tensor is not float32).
 */
export function nativeLstmDirection(xp: tf.Tensor3D, rt: tf.Tensor2D, h0: tf.Tensor2D, c0: tf.Tensor2D, reverse: boolean): { y: tf.Tensor3D; c: tf.Tensor2D } | undefined {
  if (!nativeKernelOn(PG_LSTM_FORWARD, xp, rt, h0, c0) || xp.size === 0) return undefined;
  const [steps, batch] = xp.shape;
  const hidden = rt.shape[0];
  const attrs = { reverse } as unknown as tf.NamedAttrMap;
  const last = reverse ? 0 : steps - 1;
  // One output for customGrad: y with the final cell state appended as step T.
  const op = customGrad<[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]>(([xpi, rti, h0i, c0i], save) => {
    const [y, saved] = tf.engine().runKernel(PG_LSTM_FORWARD, { xp: xpi, rt: rti, h0: h0i, c0: c0i }, attrs) as tf.Tensor[];
    const cT = tf.slice(saved, [last, 0, 0], [1, batch, hidden]);
    save([rti, y, saved, h0i, c0i]);
    return {
      value: tf.concat([y, cT]),
      gradFunc: (dOut, [rts, ys, ss, h0s, c0s]) => {
        const dy = tf.slice(dOut, [0, 0, 0], [steps, batch, hidden]);
        const dcT = tf.reshape(tf.slice(dOut, [steps, 0, 0], [1, batch, hidden]), [batch, hidden]);
        const [dxp, dh0, dc0, dRt] = tf
          .engine()
          .runKernel(PG_LSTM_BACKWARD, { rt: rts, y: ys, saved: ss, h0: h0s, c0: c0s, dy, dhT: tf.zeros([batch, hidden]), dcT }, attrs) as tf.Tensor[];
        return [dxp, dRt, dh0, dc0];
      },
    };
  });
  const out = op(xp, rt, h0, c0);
  return { y: tf.slice(out, [0, 0, 0], [steps, batch, hidden]) as tf.Tensor3D, c: tf.reshape(tf.slice(out, [steps, 0, 0], [1, batch, hidden]), [batch, hidden]) as tf.Tensor2D };
}
