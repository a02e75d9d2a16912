/**
 * How far `actual` is from `reference`: the largest absolute difference over the largest magnitude of the
 * reference. The agreement figure between pg and other runtimes (PyTorch, ONNX Runtime) in tests and docs.
 */
export function maxRelativeDifference(actual: ArrayLike<number>, reference: ArrayLike<number>): number {
  let scale = 0;
  let diff = 0;
  for (let i = 0; i < actual.length; i++) {
    scale = Math.max(scale, Math.abs(reference[i]));
    diff = Math.max(diff, Math.abs(actual[i] - reference[i]));
  }
  return diff / scale;
}
