import * as tf from '@tensorflow/tfjs-core';
import { customGrad } from '../custom-grad.js';
import { nativeKernelOn } from './kernel-table.js';
import { PG_MAX_POOL, PG_MAX_POOL_BACKWARD, type MaxPoolAttrs } from './pool-kernels.js';

/**
 * Max pooling of NHWC float32 x (explicit leading pads; output size outH x outW; dilation 1) with its gradient
 * from the recorded winners: y equals tf.maxPool's (max is exact), dx equals tfjs's MaxPoolGrad (ties to the
 * last cell of the window in row-major order, sums over windows in output order). undefined when off.
 */
export function nativeMaxPool(x: tf.Tensor4D, attrs: MaxPoolAttrs, outH: number, outW: number): tf.Tensor4D | undefined {
  if (!nativeKernelOn(PG_MAX_POOL, x) || x.size === 0 || x.size >= 2 ** 31) return undefined;
  const attrMap = { ...attrs, outH, outW } as unknown as tf.NamedAttrMap;
  const op = customGrad<[tf.Tensor]>(([xi], save) => {
    const [y, arg] = tf.engine().runKernel(PG_MAX_POOL, { x: xi }, attrMap) as tf.Tensor[];
    save([arg, xi]);
    return {
      value: y,
      gradFunc: (dy, [a, xs]) => tf.engine().runKernel(PG_MAX_POOL_BACKWARD, { dy, arg: a, x: xs }, attrMap) as tf.Tensor[],
    };
  });
  return op(x) as tf.Tensor4D;
}
