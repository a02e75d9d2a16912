import * as tf from '@tensorflow/tfjs-core';
import { columnConcat, columnCopyApplies, columnSlice } from './column-copy.js';

// tfjs-wasm's Slice copies one innermost row at a time (a JS subarray copy per row) and its Transpose has
// fast paths for rank <= 4 only. Both are pure data movement, so they may run on any view of the tensor
// with the same memory order: these merge neighbouring dims that move together into one (reshape is free)
// and give the same elements, bit for bit.

/**
 * tf.slice(x, begin, size) on the coarsest view: a dim whose inner neighbours are taken whole merges
 * with them, so a channel slice of NCHW [N, C, H, W] is N contiguous blocks, not N*C'*H rows of W.
 * `size` holds explicit sizes (no -1).
 */
export function sliceCoarse(x: tf.Tensor, begin: readonly number[], size: readonly number[], opts: { differentiable: boolean }): tf.Tensor {
  const shape = x.shape;
  if (size.some((d) => d === 0) || shape.length <= 1) return tf.slice(x, begin as number[], size as number[]);
  // Groups from the innermost dim outwards: extent, begin and size in the group's flattened coordinate.
  const groups: { extent: number; begin: number; size: number }[] = [];
  for (let i = shape.length - 1; i >= 0; i--) {
    const inner = groups[groups.length - 1];
    if (inner && inner.begin === 0 && inner.size === inner.extent) {
      inner.begin = begin[i] * inner.extent;
      inner.size = size[i] * inner.extent;
      inner.extent *= shape[i];
    } else {
      groups.push({ extent: shape[i], begin: begin[i], size: size[i] });
    }
  }
  if (groups.length === shape.length) return tf.slice(x, begin as number[], size as number[]);
  groups.reverse();
  // Whole rows of a [rows, cols] view, a block of columns from each (a channel slice of NHWC): copied in
  // the heap, when no gradient is wanted.
  const [rows, cols] = groups;
  if (!opts.differentiable && groups.length === 2 && rows.begin === 0 && rows.size === rows.extent && columnCopyApplies(x)) {
    return tf.tidy(() => tf.reshape(columnSlice(tf.reshape(x, [rows.extent, cols.extent]), cols.begin, cols.size), size as number[]));
  }
  // In a scope of its own: the views share the data, an undisposed one would keep it alive.
  return tf.tidy(() =>
    tf.reshape(
      tf.slice(
        tf.reshape(
          x,
          groups.map((g) => g.extent),
        ),
        groups.map((g) => g.begin),
        groups.map((g) => g.size),
      ),
      size as number[],
    ),
  );
}

/**
 * tf.transpose(x, perm) on the coarsest view: input dims that stay adjacent and in order in the output
 * merge (NHWC -> NCHW is [N, HW, C] -> [N, C, HW]; ShuffleNet's 5-D shuffle becomes 4-D).
 */
export function transposeCoarse(x: tf.Tensor, perm: readonly number[]): tf.Tensor {
  const shape = x.shape;
  // Runs of output positions whose input dims are consecutive.
  const runs: number[][] = [];
  for (const p of perm) {
    const last = runs[runs.length - 1];
    if (last && last[last.length - 1] + 1 === p) last.push(p);
    else runs.push([p]);
  }
  if (runs.length === perm.length) return perm.length > 4 ? transposeInMoves(x, perm) : tf.transpose(x, perm as number[]);
  // The merged dims in input order, and the permutation of the merged dims.
  const byStart = [...runs].sort((a, b) => a[0] - b[0]);
  const viewShape = byStart.map((r) => r.reduce((acc, d) => acc * shape[d], 1));
  const viewPerm = runs.map((r) => byStart.indexOf(r));
  const outShape = perm.map((p) => shape[p]);
  return tf.tidy(() => tf.reshape(transposeCoarse(tf.reshape(x, viewShape), viewPerm), outShape));
}

/**
 * A transpose of rank > 4 that merges no dims (a transformer's qkv split, [N, T, 3, heads, d] → [3, N, heads,
 * T, d]) as moves of one dim each: moving one dim leaves the others in order, so each move merges to at most 4
 * dims and takes tfjs-wasm's fast path, not its much slower generic one (docs/architecture.md). Autodiff runs the moves
 * back the same way.
 */
function transposeInMoves(x: tf.Tensor, perm: readonly number[]): tf.Tensor {
  return tf.tidy(() => {
    let t = x;
    const order = perm.map((_, i) => i);
    perm.forEach((want, pos) => {
      const at = order.indexOf(want);
      if (at === pos) return;
      const move = [...order.keys()];
      move.splice(at, 1);
      move.splice(pos, 0, at);
      t = transposeCoarse(t, move);
      order.splice(at, 1);
      order.splice(pos, 0, want);
    });
    return t;
  });
}

/**
 * tf.concat(xs, axis) as a concatenation of [rows, cols_i] matrices (rows: the product of the dims before
 * the axis), copied in the heap when no gradient is wanted.
 */
export function concatCoarse(xs: tf.Tensor[], axis: number, opts: { differentiable: boolean }): tf.Tensor {
  const live = xs.filter((t) => t.size > 0);
  if (opts.differentiable || live.length < 2 || !columnCopyApplies(...live) || live.some((t) => t.dtype !== live[0].dtype)) return tf.concat(xs, axis);
  const rows = xs[0].shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const outShape = xs[0].shape.slice();
  outShape[axis] = xs.reduce((a, t) => a + t.shape[axis], 0);
  return tf.tidy(() => tf.reshape(columnConcat(live.map((t) => tf.reshape(t, [rows, t.size / rows]) as tf.Tensor2D)), outShape));
}
