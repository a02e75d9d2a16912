import * as tf from '@tensorflow/tfjs-core';
import type { Node } from '../../graph/index.js';
import { InvalidModelError, UnsupportedModelError } from '../../errors/index.js';
import { customGrad } from '../custom-grad.js';
import type { RtValue } from '../value.js';

/** A feature of a node pg cannot run (an attribute value, a mode, an optional output), named with the node. */
export function unsupported(node: Node, what: string): UnsupportedModelError {
  return new UnsupportedModelError(`node '${node.name}' (${node.opType}): ${what}`, {
    action: 're-export the model without it (or open an issue asking for it)',
  });
}

/** A node that breaks its op's specification (a missing required input, attributes of the wrong length). */
export function malformed(node: Node, what: string): InvalidModelError {
  return new InvalidModelError(`node '${node.name}' (${node.opType}): ${what}`, {
    action: 'check the model with onnx.checker',
  });
}

/** Input `i`, which the op requires. */
export function input(node: Node, inputs: (RtValue | undefined)[], i: number): RtValue {
  const v = inputs[i];
  if (!v) throw malformed(node, `input ${i} is missing`);
  return v;
}

/** Whether the node asks for its output `i` (optional outputs are absent or named ''). */
export function wantsOutput(node: Node, i: number): boolean {
  return !!node.outputs[i];
}

export const normAxis = (axis: number, rank: number): number => (axis < 0 ? axis + rank : axis);

/**
 * Every `step`-th element along `axis`, starting with the first. tfjs's StridedSlice has no gradient, so
 * this is a pad to a multiple of `step`, a reshape that puts the step in its own axis, and a slice.
 */
export function takeEvery(t: tf.Tensor, axis: number, step: number): tf.Tensor {
  if (step === 1) return t;
  const shape = t.shape;
  const count = Math.ceil(shape[axis] / step);
  const extra = count * step - shape[axis];
  const padded =
    extra > 0
      ? tf.pad(
          t,
          shape.map((_, i) => [0, i === axis ? extra : 0] as [number, number]),
        )
      : t;
  const split = [...shape.slice(0, axis), count, step, ...shape.slice(axis + 1)];
  const begin = split.map(() => 0);
  const size = split.map((d, i) => (i === axis + 1 ? 1 : d));
  return tf.reshape(tf.slice(tf.reshape(padded, split), begin, size), [...shape.slice(0, axis), count, ...shape.slice(axis + 1)]);
}

/** `t` as a constant: the same value, no gradient flowing back (tfjs has no stop_gradient op). */
export const stopGradient: (t: tf.Tensor) => tf.Tensor = customGrad<[tf.Tensor]>(([t]) => ({
  value: tf.clone(t),
  gradFunc: (dy) => [tf.zerosLike(dy)],
}));

/** Operands broadcast to their common shape: tfjs's Maximum/Minimum/Select gradients do not reduce broadcast dims. */
export function broadcastAll(ts: tf.Tensor[]): tf.Tensor[] {
  const shape = ts.reduce<number[]>((s, t) => tf.broadcast_util.assertAndGetBroadcastShape(s, t.shape), []);
  return ts.map((t) => (t.shape.join() === shape.join() ? t : tf.broadcastTo(t, shape)));
}
