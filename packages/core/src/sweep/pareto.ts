/**
 * Indices of the Pareto-optimal items when `cost` is to be minimised and `value` maximised: an item is on
 * the frontier unless another has cost ≤ and value ≥ with at least one strictly better. Items with a
 * missing (null) cost or value are never on it. Returned in ascending cost.
 */
export function paretoFrontier<T>(items: readonly T[], cost: (t: T) => number | null, value: (t: T) => number | null): number[] {
  const known = items
    .map((t, i) => ({ i, c: cost(t), v: value(t) }))
    .filter((p): p is { i: number; c: number; v: number } => p.c !== null && p.v !== null && Number.isFinite(p.c) && Number.isFinite(p.v));
  // Ascending cost, and for equal cost the best value first, so one sweep keeps exactly the non-dominated.
  known.sort((a, b) => a.c - b.c || b.v - a.v);
  const frontier: number[] = [];
  let best = -Infinity;
  for (const p of known) {
    if (p.v > best) {
      frontier.push(p.i);
      best = p.v;
    }
  }
  return frontier;
}
