import * as tf from '@tensorflow/tfjs-core';
import type { Node } from '../graph/index.js';
import { normaliseDomain } from './registry.js';
import { logicalShape, type RtValue } from './value.js';

/**
 * ShuffleNet's channel shuffle as exporters write it: Reshape [N, C, H, W] -> [N, g, C/g, H, W], Transpose
 * perm [0, 2, 1, 3, 4], Reshape -> [N, C, H, W]. Run op by op it needs the NCHW layout (a transpose out of
 * NHWC) and a 5-D transpose, and leaves an NCHW value that the next convs transpose back. On an NHWC value
 * the same permutation of channels is one transpose of the [N*H*W, g, C/g] view, and the result stays NHWC
 * (the Slices and the Concat that follow work on NHWC in place).
 */
export interface ShufflePattern {
  transpose: Node;
  reshape: Node;
}

/** The Transpose and second Reshape when `node` is the first Reshape of a channel shuffle (shapes checked at run time). */
export function shufflePattern(node: Node, readers: Map<string, Node[]>, keep: Set<string>): ShufflePattern | undefined {
  const only = (value: string, opType: string): Node | undefined => {
    const users = readers.get(value) ?? [];
    const next = users.length === 1 && !keep.has(value) ? users[0] : undefined;
    return next && next.opType === opType && normaliseDomain(next.domain) === '' && next.inputs[0] === value ? next : undefined;
  };
  if (node.opType !== 'Reshape' || normaliseDomain(node.domain) !== '') return undefined;
  const transpose = only(node.outputs[0], 'Transpose');
  const perm = transpose?.attributes.perm;
  if (!transpose || perm?.type !== 'ints' || perm.value.join(',') !== '0,2,1,3,4') return undefined;
  const reshape = only(transpose.outputs[0], 'Reshape');
  return reshape ? { transpose, reshape } : undefined;
}

/** A Reshape target with 0 (copy the input's dim, unless allowzero) and -1 (the rest) resolved. */
export function reshapeTarget(spec: readonly number[], inShape: readonly number[], allowZero: boolean): number[] | undefined {
  const dims = spec.map((d, i) => (d === 0 && !allowZero ? inShape[i] : d));
  const total = inShape.reduce((a, b) => a * b, 1);
  const known = dims.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
  const unknown = dims.filter((d) => d === -1).length;
  if (unknown > 1 || (unknown === 1 && (known === 0 || total % known !== 0))) return undefined;
  const out = dims.map((d) => (d === -1 ? total / known : d));
  return out.reduce((a, b) => a * b, 1) === total ? out : undefined;
}

/**
 * The group count when the targets make this exactly a channel shuffle of `x`: first [N, g, C/g, H, W],
 * then back to [N, C, H, W]; undefined otherwise (the ops then run one by one).
 */
export function shuffleGroups(x: RtValue, first: readonly number[] | undefined, second: readonly number[] | undefined, allowZero: [boolean, boolean]): number | undefined {
  if (!x.nhwc || !first || !second) return undefined;
  const [n, c, h, w] = logicalShape(x);
  const a = reshapeTarget(first, [n, c, h, w], allowZero[0]);
  if (!a || a.length !== 5 || a[0] !== n || a[3] !== h || a[4] !== w || a[1] * a[2] !== c) return undefined;
  const b = reshapeTarget(second, [n, a[2], a[1], h, w], allowZero[1]);
  return b && b.join(',') === [n, c, h, w].join(',') ? a[1] : undefined;
}

/** Channel k*g + i of the result is channel i*(C/g) + k of `x` (NHWC in, NHWC out). */
export function channelShuffleNhwc(x: tf.Tensor, groups: number): tf.Tensor {
  const [n, h, w, c] = x.shape;
  return tf.tidy(() => tf.reshape(tf.transpose(tf.reshape(x, [n * h * w, groups, c / groups]), [0, 2, 1]), [n, h, w, c]));
}
